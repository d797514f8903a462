"""The official-rae style, the official layouts (export ↔ import), the official sampling grid, and the
import-official commands end to end on tiny models built here (parity against the official code itself
is benchmarks/official_parity.py, and test_official_parity.py when a checkout is at hand)."""

import json
import math

import pytest
import torch
import transformers
import yaml

from replab.cli import main
from replab.diffusion.models import OFFICIAL_RAE, apply_rope, build_dit, rope_2d
from replab.diffusion.official import load_official, to_official
from replab.diffusion.samplers import GuidanceConfig, euler, guided_velocity
from replab.diffusion.transport import Transport, TransportConfig, time_shift
from replab.errors import CheckpointError, ConfigError
from replab.rae.decoder import ViTDecoder
from replab.rae.official import decoder_to_official, load_official_decoder, read_official_stats


@torch.no_grad()
def _perturbed(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    for p in module.parameters():
        p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return module.eval()


def _official_dh(seed=0):
    return _perturbed(build_dit("DiT-DH-tiny", 8, 4, 3, style="official-rae", label_dropout=0.1), seed)


def test_export_import_round_trip_is_exact_in_the_official_layout():
    model = _official_dh()
    state = to_official(model)
    assert state["s_embedder.proj.weight"].shape == (64, 8, 1, 1)  # a 1×1 conv there
    assert state["x_embedder.proj.weight"].shape == (128, 8, 1, 1)
    assert state["blocks.2.adaLN_modulation.1.weight"].shape == (6 * 128, 128)  # head blocks follow the trunk's
    assert state["t_embedder.W"].shape == (256,) and state["t_embedder.mlp.0.weight"].shape == (64, 512)
    assert state["y_embedder.embedding_table.weight"].shape == (4, 64)  # 3 classes + the null label
    assert {"pos_embed", "enc_feat_rope.freqs_cos", "dec_feat_rope.freqs_sin", "s_projector.weight"} <= set(state)
    copy = build_dit("DiT-DH-tiny", 8, 4, 3, style="official-rae").eval()
    load_official(copy, state, "exported")
    x, t, y = torch.randn(2, 8, 4, 4), torch.rand(2), torch.tensor([0, 2])
    assert torch.equal(copy(x, t, y), model(x, t, y))


def test_plain_dit_uses_the_lightningdit_layout():
    model = _perturbed(build_dit("DiT-tiny", 8, 4, 3, style="official-rae"))
    state = to_official(model)
    assert "x_embedder.proj.weight" in state and "feat_rope.freqs_cos" in state and "s_projector.weight" not in state
    copy = build_dit("DiT-tiny", 8, 4, 3, style="official-rae").eval()
    load_official(copy, state, "exported")
    x, t, y = torch.randn(2, 8, 4, 4), torch.rand(2), torch.tensor([0, 2])
    assert torch.equal(copy(x, t, y), model(x, t, y))


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda s: s.__setitem__("blocks.1.attn.qkv.weight", torch.zeros(3, 3)),
            "blocks.1.attn.qkv.weight has shape [3, 3]",
        ),
        (
            lambda s: s.__setitem__("blocks.0.attn.q_norm.weight", torch.ones(32)),
            "key blocks.0.attn.q_norm.weight has no place",
        ),
        (lambda s: s.pop("final_layer.linear.bias"), "key final_layer.linear.bias is missing"),
        (lambda s: s["enc_feat_rope.freqs_cos"].mul_(0.5), "enc_feat_rope.freqs_cos"),
        (lambda s: s.__setitem__("x_embedder.proj.weight", torch.zeros(128, 8, 2, 2)), "replab needs patch size 1"),
    ],
    ids=["shape", "unexpected", "missing", "rope-table", "patch-size"],
)
def test_official_state_that_does_not_fit_names_the_key(change, message):
    state = to_official(_official_dh())
    change(state)
    with pytest.raises(CheckpointError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_official(build_dit("DiT-DH-tiny", 8, 4, 3, style="official-rae"), state, "official.pt")


def test_replab_style_has_no_official_layout():
    with pytest.raises(ConfigError, match="official-rae style"):
        to_official(build_dit("DiT-DH-tiny", 8, 4, 3))


def test_rope_is_the_eva_rotate_half_form_at_theta_10000():
    grid, head_dim = 4, 16
    x = torch.randn(2, grid * grid, 3, head_dim)
    ours = apply_rope(x, rope_2d(grid, head_dim, 10000.0)[:, None])
    # the official form, written out: per axis, frequencies θ^(−2i/(Dh/2)), each used by two neighbours
    half = head_dim // 2
    freqs = 1.0 / (10000 ** (torch.arange(0, half, 2).float() / half))
    rows, cols = torch.meshgrid(torch.arange(grid).float(), torch.arange(grid).float(), indexing="ij")
    angles = torch.cat([rows.reshape(-1, 1) * freqs, cols.reshape(-1, 1) * freqs], 1).repeat_interleave(2, -1)
    pairs = x.reshape(*x.shape[:-1], -1, 2)
    rotated = torch.stack([-pairs[..., 1], pairs[..., 0]], -1).flatten(-2)
    expected = x * angles.cos()[:, None] + rotated * angles.sin()[:, None]
    assert torch.allclose(ours, expected, atol=1e-6)


def test_official_style_conditions_as_the_official_code_does():
    model = _official_dh()
    assert model.style == OFFICIAL_RAE and not hasattr(model, "trunk_norm") and not hasattr(model, "head_pos")
    t = torch.tensor([0.3])
    W = model.t_embed.W
    features = torch.cat([torch.sin(t[:, None] * W * 2 * math.pi), torch.cos(t[:, None] * W * 2 * math.pi)], -1)
    assert torch.allclose(model.t_embed(t), model.t_embed.mlp(features))
    # label dropout inside forward in training mode (official), unless the trainer passes its own mask
    model.label_dropout = 1.0
    x, tt, y = torch.randn(2, 8, 4, 4), torch.rand(2), torch.tensor([0, 1])
    null = model(x, tt, torch.full_like(y, 3))
    assert torch.allclose(model.train()(x, tt, y), null)
    kept = model(x, tt, y, drop_labels=torch.tensor([False, False]))
    assert torch.allclose(kept, model.eval()(x, tt, y))


def test_official_grid_and_euler_steps_by_hand():
    transport = Transport(TransportConfig(shift=False), (8, 4, 4))  # α = 1: the grid is 1 − linspace(0, 0.999, n)
    grid = transport.grid(3, schedule="official-rae")
    assert torch.allclose(grid, torch.tensor([1.0, 0.5005, 0.001]))
    shifted = Transport(TransportConfig(), (768, 16, 16)).grid(50, schedule="official-rae")
    alpha = math.sqrt(768 * 256 / 4096)
    assert len(shifted) == 50 and shifted[0] == 1.0
    assert math.isclose(shifted[-1].item(), alpha * 0.001 / (1 + (alpha - 1) * 0.001), rel_tol=1e-4)  # fp32 1 − 0.999
    # v(x, t) = x: each Euler step multiplies x by 1 + (t' − t); from noise z: z · 0.5005 · 0.5005
    z = torch.randn(2, 8, 4, 4, generator=torch.Generator().manual_seed(0))
    out = euler(lambda x, t: x, z, grid)
    assert torch.allclose(out, z * 0.5005 * 0.5005, atol=1e-6)
    assert torch.equal(time_shift(torch.tensor([0.0, 1.0]), 3.0), torch.tensor([0.0, 1.0]))


class _LabelEcho(torch.nn.Module):
    """A fake velocity model for guidance tests: v = label value everywhere (null label 9)."""

    def forward(self, x, t, y):
        return torch.ones_like(x) * y.view(-1, 1, 1, 1).float()


def test_cfg_and_autoguidance_act_only_inside_the_interval():
    x, y = torch.zeros(1, 2, 2, 2), torch.tensor([3])
    cfg = guided_velocity(_LabelEcho(), y, GuidanceConfig(cfg_scale=2.0, cfg_interval=(0.5, 1.0)), null_label=9)
    assert cfg(x, 0.7).unique().item() == 9 + 2 * (3 - 9)  # uncond + s·(cond − uncond)
    assert cfg(x, 0.2).unique().item() == 3  # outside: the conditional velocity

    class Weak(torch.nn.Module):
        def forward(self, x, t, y):
            return torch.ones_like(x)

    ag = guided_velocity(_LabelEcho(), y, GuidanceConfig(autoguidance="weak", ag_scale=1.5, cfg_interval=(0.5, 1.0)),
                         weak_model=Weak(), null_label=9)  # fmt: skip
    assert ag(x, 0.7).unique().item() == 1 + 1.5 * (3 - 1)
    assert ag(x, 0.2).unique().item() == 3


def _official_decoder(seed=0):
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    return _perturbed(ViTDecoder(16, 4, 8, 3, "tiny", "official-rae", 96, mean, std), seed)


def test_decoder_round_trip_in_the_official_layout():
    decoder = _official_decoder()
    state = decoder_to_official(decoder)
    assert state["decoder_pos_embed"].shape == (1, 17, 192)  # a zero row for the CLS token first
    assert torch.equal(state["decoder_pos_embed"][0, 0], torch.zeros(192))
    assert state["decoder_layers.0.attention.attention.query.weight"].shape == (192, 192)
    assert state["decoder_layers.3.intermediate.dense.weight"].shape == (96, 192)
    assert state["trainable_cls_token"].shape == (1, 1, 192)
    copy = _official_decoder(seed=1)
    load_official_decoder(copy, state, "exported")
    z = torch.randn(2, 16, 4, 4)
    assert torch.equal(copy(z), decoder(z))
    state["decoder_layers.2.attention.attention.key.weight"] = torch.zeros(5, 5)
    with pytest.raises(CheckpointError, match=r"decoder_layers.2.attention.attention.key.weight has shape \[5, 5\]"):
        load_official_decoder(copy, state, "model.pt")
    state = decoder_to_official(decoder)
    state.pop("decoder_layers.1.attention.attention.value.bias")
    with pytest.raises(CheckpointError, match="decoder_layers.1.attention.attention.value.bias is missing"):
        load_official_decoder(copy, state, "model.pt")


def test_decoder_official_output_is_in_the_encoders_normalised_pixel_space():
    decoder = _official_decoder()
    z = torch.randn(1, 16, 4, 4)
    from replab.core.layers import unpatchify

    logits = unpatchify(decoder.logits(z), 8, 3)
    pixels = logits * torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1) + torch.tensor((0.485, 0.456, 0.406)).view(
        1, 3, 1, 1
    )
    assert torch.allclose(decoder(z) * 0.5 + 0.5, pixels, atol=1e-6)


def test_official_stats_layouts(tmp_path):
    torch.save({"mean": torch.ones(1, 4, 2, 2), "var": None}, tmp_path / "stat.pt")
    mean, var = read_official_stats(tmp_path / "stat.pt")
    assert mean.shape == (4, 2, 2) and var is None
    torch.save({"mean": torch.ones(4, 2)}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=r"'mean' has shape \[4, 2\]"):
        read_official_stats(tmp_path / "bad.pt")


def _official_release(tmp_path):
    """A tiny 'release' in the official layout: a DINOv2 on disk, decoder model.pt + config.json, stat.pt, and a
    DiT-DH stage2_model.pt (EMA under 'ema', as the official trainer saves) with its YAML."""
    encoder = tmp_path / "dinov2"
    transformers.Dinov2WithRegistersModel(transformers.Dinov2WithRegistersConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, image_size=56,
        patch_size=14, num_register_tokens=4)).save_pretrained(encoder)  # fmt: skip
    torch.save(decoder_to_official(_official_decoder()), tmp_path / "model.pt")
    (tmp_path / "ViTtiny").mkdir()
    (tmp_path / "ViTtiny" / "config.json").write_text(json.dumps({
        "decoder_hidden_size": 192, "decoder_num_hidden_layers": 4, "decoder_num_attention_heads": 3,
        "decoder_intermediate_size": 96, "hidden_act": "gelu", "layer_norm_eps": 1e-12}))  # fmt: skip
    torch.save({"mean": torch.randn(16, 4, 4) * 0.1, "var": torch.rand(16, 4, 4) + 0.5}, tmp_path / "stat.pt")
    dit = _perturbed(build_dit("DiT-DH-tiny", 16, 4, 10, style="official-rae"))
    torch.save({"model": to_official(dit), "ema": to_official(dit)}, tmp_path / "stage2_model.pt")
    params = dict(input_size=4, patch_size=1, in_channels=16, hidden_size=[64, 128], depth=[2, 2], num_heads=[2, 2],
                  mlp_ratio=4.0, class_dropout_prob=0.1, num_classes=10, use_qknorm=False, use_swiglu=True,
                  use_rope=True, use_rmsnorm=True, wo_shift=False, use_pos_embed=True)  # fmt: skip
    official = {
        "stage_1": {
            "target": "stage1.RAE",
            "params": {
                "encoder_cls": "Dinov2withNorm",
                "encoder_config_path": str(encoder),
                "encoder_input_size": 56,
                "decoder_config_path": "ViTtiny",
                "decoder_patch_size": 8,
                "pretrained_decoder_path": "model.pt",
                "normalization_stat_path": "stat.pt",
            },
        },
        "stage_2": {"target": "stage2.models.DDT.DiTwDDTHead", "params": params},
        "transport": {
            "params": {"path_type": "Linear", "prediction": "velocity", "time_dist_type": "logit-normal_0_1"}
        },
        "sampler": {"mode": "ODE", "params": {"sampling_method": "euler", "num_steps": 6}},
        "guidance": {"method": "cfg", "scale": 2.0, "t_min": 0.0, "t_max": 0.8},
        "misc": {
            "latent_size": [16, 4, 4],
            "num_classes": 10,
            "time_dist_shift_dim": 256,
            "time_dist_shift_base": 4096,
        },
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(official))
    return dit


def test_import_official_commands_then_sample(tmp_path):
    dit = _official_release(tmp_path)
    root = str(tmp_path)
    assert (
        main(["rae", "import-official", "--config", f"{root}/config.yaml", "--root", root, "--out", f"{root}/rae"]) == 0
    )
    assert main(["diffusion", "import-official", "--ckpt", f"{root}/stage2_model.pt", "--config", f"{root}/config.yaml",
                 "--rae", f"{root}/rae", "--out", f"{root}/dit"]) == 0  # fmt: skip
    from replab.diffusion.sample import load_diffusion

    model, config, rae = load_diffusion(f"{root}/dit")
    assert config.model.style == "official-rae" and config.sample.schedule == "official-rae"
    assert config.sample.cfg_scale == 2.0 and tuple(config.sample.cfg_interval) == (0.0, 0.8)
    official_var = read_official_stats(tmp_path / "stat.pt")[1]
    assert rae.decoder.style == "official-rae"
    assert torch.allclose(rae.std**2, official_var + 1e-5)  # the official epsilon
    x, t, y = torch.randn(2, 16, 4, 4), torch.rand(2), torch.tensor([1, 7])
    assert torch.equal(model(x, t, y), dit(x, t, y))
    assert main(["diffusion", "sample", "--run", f"{root}/dit", "--n", "10", "--out", f"{root}/grid.png"]) == 0
    assert (tmp_path / "grid.png").stat().st_size > 0


def test_import_official_refuses_what_replab_cannot_carry(tmp_path):
    _official_release(tmp_path)
    official = yaml.safe_load((tmp_path / "config.yaml").read_text())
    official["stage_2"]["params"]["wo_shift"] = True
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(official))
    main(["rae", "import-official", "--config", str(tmp_path / "config.yaml"), "--root", str(tmp_path),
          "--out", str(tmp_path / "rae")])  # fmt: skip
    with pytest.raises(ConfigError, match="stage_2.params.wo_shift"):
        from replab.diffusion.official import import_official

        import_official(tmp_path / "stage2_model.pt", tmp_path / "bad.yaml", tmp_path / "rae", tmp_path / "dit")


def test_official_style_trains_and_a_run_saved_before_styles_resumes(tmp_path):
    from replab.diffusion.train import train_diffusion
    from tests.diffusion_helpers import tiny_config, write_fake_latents

    rae = write_fake_latents(tmp_path / "rae")
    run = train_diffusion(tiny_config(rae, "model.style=official-rae"), tmp_path / "official")
    saved = yaml.safe_load((run / "config.yaml").read_text())["model"]
    assert saved["style"] == "official-rae" and saved["qk_norm"] is False  # the switches are recorded explicitly
    old = train_diffusion(tiny_config(rae), tmp_path / "old")
    record = yaml.safe_load((old / "config.yaml").read_text())
    for key in ("style", "qk_norm", "rope", "swiglu", "rms_norm"):  # as a run written before these settings existed
        record["model"].pop(key)
    (old / "config.yaml").write_text(yaml.safe_dump(record))
    train_diffusion(tiny_config(rae, "train.steps=4"), old)  # resumes: no config mismatch
    assert (old / "checkpoints" / "step_00000004").exists()
