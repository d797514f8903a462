import pytest
import torch
from safetensors.torch import load_file

from replab.diffusion.models import ORIGINAL_DIT, BlockStyle, build_dit
from replab.diffusion.samplers import SAMPLERS, GuidanceConfig, euler, guided_velocity, heun
from replab.diffusion.train import train_diffusion
from replab.diffusion.transport import Transport, TransportConfig, shift_alpha, time_shift
from replab.errors import CheckpointError, ConfigError
from tests.conftest import spawn_ddp
from tests.diffusion_helpers import tiny_config, train_tiny, write_fake_latents


def test_time_shift_fixes_the_ends_and_is_monotone():
    t = torch.linspace(0, 1, 101)
    for alpha in (0.5, 1.0, 2.0, 6.0):
        s = time_shift(t, alpha)
        assert s[0] == 0 and abs(s[-1] - 1) < 1e-6
        assert (s[1:] > s[:-1]).all()
    assert shift_alpha(256, 768) == pytest.approx(48**0.5)  # DINOv2-B at 256 px: 16×16 tokens × 768
    assert shift_alpha(64, 64) == 1.0


def test_shifted_grid_runs_from_noise_to_data():
    grid = Transport(TransportConfig(), (768, 16, 16)).grid(50)
    assert len(grid) == 51 and grid[0] == 1 and grid[-1] == 0
    unshifted = Transport(TransportConfig(shift=False), (768, 16, 16)).grid(50)
    assert (grid[1:-1] > unshifted[1:-1]).all()  # alpha > 1 spends more steps near noise


def test_every_sampler_is_exact_on_a_constant_velocity():
    v = torch.randn(2, 3, 4, 4)
    x1 = torch.randn(2, 3, 4, 4)
    grid = time_shift(torch.linspace(1, 0, 8), 3.0)
    for sampler in (euler, heun, *SAMPLERS.values()):
        out = sampler(lambda x, t: v, x1, grid)
        assert torch.allclose(out, x1 - v, atol=1e-5)  # x0 = x1 - ∫ v dt over t from 1 to 0


def _untrained_but_responsive(model):
    """adaLN-Zero makes a fresh model ignore its condition; give every zero-initialised layer weights."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear) and module.weight.abs().sum() == 0:
                module.weight.normal_(std=0.05)
    return model


def test_cfg_scale_one_equals_no_guidance():
    torch.manual_seed(0)
    model = _untrained_but_responsive(build_dit("DiT-tiny", 8, 4, num_classes=3).eval())
    x, y = torch.randn(2, 8, 4, 4), torch.tensor([0, 2])
    plain = guided_velocity(model, y, GuidanceConfig(), null_label=3)(x, 0.5)
    same = guided_velocity(model, y, GuidanceConfig(cfg_scale=1.0), null_label=3)(x, 0.5)
    guided = guided_velocity(model, y, GuidanceConfig(cfg_scale=4.0), null_label=3)(x, 0.5)
    outside = guided_velocity(model, y, GuidanceConfig(cfg_scale=4.0, cfg_interval=(0.6, 1.0)), null_label=3)(x, 0.5)
    assert torch.equal(plain, same) and not torch.allclose(plain, guided) and torch.equal(plain, outside)


def test_autoguidance_with_itself_is_the_identity():
    model = _untrained_but_responsive(build_dit("DiT-tiny", 8, 4).eval())
    x = torch.randn(2, 8, 4, 4)
    base = guided_velocity(model, None, GuidanceConfig())(x, 0.3)
    auto = guided_velocity(model, None, GuidanceConfig(ag_scale=3.0), weak_model=model)(x, 0.3)
    assert torch.allclose(base, auto, atol=1e-6)


def test_paper_model_sizes_on_the_meta_device():
    with torch.device("meta"):
        xl = build_dit("DiT-DH-XL", 768, 16, num_classes=1000)
        small = build_dit("DiT-DH-S", 768, 16, num_classes=1000)
    assert sum(p.numel() for p in xl.parameters()) / 1e6 == pytest.approx(839, rel=0.01)
    assert sum(p.numel() for p in small.parameters()) / 1e6 == pytest.approx(196, rel=0.01)


@pytest.mark.parametrize("style", [BlockStyle(), ORIGINAL_DIT], ids=["rae-style", "original-dit"])
def test_loss_falls_on_a_fixed_batch(style):
    torch.manual_seed(0)
    model = build_dit("DiT-DH-tiny", 8, 4, num_classes=3, style=style)
    transport = Transport(TransportConfig(), (8, 4, 4))
    x, y = torch.randn(16, 8, 4, 4), torch.arange(16) % 3
    gen = torch.Generator().manual_seed(0)
    t, noise = transport.sample_t(16, gen), torch.randn(16, 8, 4, 4, generator=gen)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(60):
        loss = transport.loss(model, x, y, t, noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_gradient_accumulation_equals_the_whole_batch(tmp_path):
    rae = write_fake_latents(tmp_path / "rae")
    train_diffusion(tiny_config(rae), tmp_path / "whole")
    train_diffusion(tiny_config(rae, "train.grad_accum=2"), tmp_path / "accum")
    a = load_file(str(tmp_path / "whole/checkpoints/step_00000003/model.safetensors"))
    b = load_file(str(tmp_path / "accum/checkpoints/step_00000003/model.safetensors"))
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key


def test_ddp_with_two_gloo_processes_equals_one_process(tmp_path):
    rae = write_fake_latents(tmp_path / "rae")
    train_diffusion(tiny_config(rae), tmp_path / "single")
    spawn_ddp(2, train_tiny, str(rae), str(tmp_path / "ddp"))
    a = load_file(str(tmp_path / "single/checkpoints/step_00000003/model.safetensors"))
    b = load_file(str(tmp_path / "ddp/checkpoints/step_00000003/model.safetensors"))
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key


def test_sampling_errors(tmp_path):
    from replab.diffusion.sample import load_diffusion

    with pytest.raises(ConfigError, match="not a replab run"):
        load_diffusion(tmp_path)
    rae = write_fake_latents(tmp_path / "rae")
    with pytest.raises(ConfigError, match="rae"):
        train_diffusion(tiny_config(rae, "rae="), tmp_path / "x")
    # a checkpoint without EMA weights
    from replab.core.checkpoint import save_checkpoint

    run = tmp_path / "noema"
    train_diffusion(tiny_config(rae), run)
    model = build_dit("DiT-DH-tiny", 8, 4, 3)
    save_checkpoint(run / "checkpoints" / "step_00000009", {"model": model})
    with pytest.raises(CheckpointError, match="EMA"):
        load_diffusion(run)


def test_generate_rejects_bad_labels_and_mismatched_guidance(tiny_local_vit):
    from replab.diffusion.config import DiffusionConfig
    from replab.diffusion.sample import generate
    from replab.rae.decoder import ViTDecoder
    from replab.rae.encoders import EncoderConfig, build_encoder
    from replab.rae.model import RAE

    encoder = build_encoder(EncoderConfig(weights=str(tiny_local_vit)))
    rae = RAE(encoder, ViTDecoder(32, 7, 4, 1, "tiny"), torch.zeros(32, 7, 7), torch.ones(32, 7, 7))
    model = build_dit("DiT-tiny", 32, 7, num_classes=10).eval()
    config = DiffusionConfig()
    fast = GuidanceConfig(steps=2)
    images = generate(model, rae, config, labels=torch.tensor([0, 9]), n=2, guidance=fast)
    assert images.shape == (2, 1, 28, 28) and 0 <= images.min() and images.max() <= 1
    with pytest.raises(ConfigError, match="out of range"):
        generate(model, rae, config, labels=torch.tensor([10]), n=1, guidance=fast)
    with pytest.raises(ConfigError, match="same latent shape"):
        generate(model, rae, config, labels=torch.tensor([1]), n=1, guidance=fast,
                 weak_model=build_dit("DiT-tiny", 16, 7, 10))  # fmt: skip
    with pytest.raises(ConfigError, match="sample.sampler: unknown 'rk4'"):  # the model's field, not a CLI flag
        generate(model, rae, config, labels=torch.tensor([1]), n=1, guidance=GuidanceConfig(sampler="rk4"))


def test_rope_equals_the_explicit_pairwise_rotation():
    from replab.diffusion.models import apply_rope, rope_2d

    x = torch.randn(2, 3, 16, 8)  # [B, H, N = 4×4, head_dim]
    rotations = rope_2d(4, 8)
    angles = rotations.angle()
    x1, x2 = x[..., 0::2], x[..., 1::2]
    expected = torch.stack([x1 * angles.cos() - x2 * angles.sin(), x1 * angles.sin() + x2 * angles.cos()], -1)
    assert torch.allclose(apply_rope(x, rotations), expected.flatten(-2), atol=1e-6)
    assert torch.allclose(apply_rope(x, rotations).norm(dim=-1), x.norm(dim=-1), atol=1e-5)  # a rotation


def test_original_dit_style_has_the_original_block():
    block = build_dit("DiT-tiny", 8, 4, style=ORIGINAL_DIT).blocks[0]
    assert isinstance(block.norm1, torch.nn.LayerNorm) and isinstance(block.mlp[1], torch.nn.GELU)
    assert not block.attn.rope and not block.attn.qk_norm
    modern = build_dit("DiT-tiny", 8, 4).blocks[0]
    assert not isinstance(modern.norm1, torch.nn.LayerNorm) and modern.attn.rope


def test_pixel_codec_round_trips_and_standardises():
    from replab.diffusion.codecs import PixelCodec

    images = torch.rand(20, 1, 28, 28)
    codec = PixelCodec(1, 28, patch=4)
    codec.fit_stats(torch.nn.functional.pixel_unshuffle(images, 4))
    latents = codec.encode(images)
    assert latents.shape == (20, 16, 7, 7) and codec.latent_shape == (16, 7, 7)
    assert latents.mean().abs() < 1e-5 and (latents.std((0, 2, 3)) - 1).abs().max() < 0.05
    assert torch.allclose(codec.decode(latents), images, atol=1e-5)


def test_conv_vae_learns_and_standardises_its_latents():
    from replab.diffusion.codecs import train_conv_vae

    gen = torch.Generator().manual_seed(0)
    patterns = torch.nn.functional.interpolate(torch.rand(4, 1, 7, 7, generator=gen), size=28, mode="bilinear")
    images = patterns.repeat(16, 1, 1, 1)
    vae = train_conv_vae(images, steps=300, batch_size=16, lr=3e-3, width=8)
    latents = vae.encode(images)
    assert latents.shape == (64, 4, 7, 7) and (latents.mean((0, 2, 3)).abs() < 1e-4).all()
    error = (vae.decode(latents) - images).pow(2).mean()
    assert error < 0.2 * images.var()  # reconstructs far better than predicting the mean image


def test_activation_checkpointing_gives_the_same_gradients():
    from replab.diffusion.models import build_dit

    torch.manual_seed(0)
    model = build_dit("DiT-DH-tiny", 8, 4, 3, style="official-rae")
    x, t, y = torch.randn(4, 8, 4, 4), torch.rand(4), torch.tensor([0, 1, 2, 0])
    grads = []
    for checkpointing in (False, True):
        model.zero_grad()
        model.grad_checkpoint = checkpointing
        model(x, t, y).square().mean().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-6)
