"""The ImageNet-256 presets start on a synthetic ImageNet-layout folder with a tiny random DINOv2 on disk (no hub),
and train a few steps: a GPU user's first command is known to work. Slow: the XL decoder and DiT-DH-XL on a CPU."""

import json

import pytest

from replab.core.config import load_config
from replab.diffusion.train import DiffusionConfig, train_diffusion
from replab.rae.model import RAEConfig
from replab.rae.train import train_rae
from tests.streaming_helpers import write_imagenet_folder

pytestmark = pytest.mark.slow

SMALL = ["train.batch_size=2", "train.steps=2", "train.warmup_steps=1", "train.log_every=1", "train.ckpt_every=2",
         "train.threads=2", "train.bf16=false", "data.workers=2"]  # fmt: skip


@pytest.fixture(scope="module")
def rae_run(tmp_path_factory):
    import transformers

    root = tmp_path_factory.mktemp("in256")
    images = write_imagenet_folder(root / "imagenet", per_class=8, size_range=(200, 400))
    encoder = root / "dinov2-tiny"  # DINOv2-B's patch and input size, tiny width: 224 / 14 = 16×16 tokens
    transformers.Dinov2WithRegistersModel(transformers.Dinov2WithRegistersConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, image_size=224,
        patch_size=14, num_register_tokens=4)).save_pretrained(encoder)  # fmt: skip
    config = load_config(RAEConfig, "rae", "imagenet256-dinov2-b",
                         [f"data.path={images}", f"encoder.weights={encoder}", "data.mode=stream", "stats_images=16",
                          "data.skip_corrupt=true", *SMALL])  # fmt: skip
    assert config.decoder.size == "XL" and config.data.image_size == 256
    out = root / "rae"
    train_rae(config, out)
    return out


def _train_preset(preset: str, rae_run, out, *extra: str) -> None:
    overrides = [f"rae={rae_run}", *[s for s in SMALL if not s.startswith("data.")], "model.grad_checkpoint=true"]
    train_diffusion(load_config(DiffusionConfig, "diffusion", preset, [*overrides, *extra]), out)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in rows if "loss" in row]
    assert len(losses) == 2 and all(loss == loss for loss in losses)  # finite, not NaN
    assert (out / "checkpoints" / "step_00000002").is_dir()


def test_the_dh_s_preset_trains_online(rae_run, tmp_path):
    _train_preset("imagenet256-dinov2-dh-s", rae_run, tmp_path / "dit")


def test_the_dh_xl_preset_trains_from_cached_latents(rae_run, tmp_path):
    """DiT-DH-XL's weights, gradients, AdamW moments and EMA are ~17 GB in fp32: from the latent cache the
    trainer holds no encoder or decoder beside them, which keeps the run inside a 24 GB machine."""
    from replab.rae.latent_cache import encode_to_cache

    cache = encode_to_cache(rae_run, tmp_path / "cache", shard_size=16)
    _train_preset("imagenet256-dinov2-dh-xl", rae_run, tmp_path / "dit", "latents=cached", f"latents_cache={cache}")


def test_the_xl_preset_builds_and_runs_forward_on_the_rae_latents(rae_run):
    import torch

    from replab.diffusion.config import build_model
    from replab.diffusion.latents import open_latent_source

    config = load_config(DiffusionConfig, "diffusion", "imagenet256-dinov2-dh-xl", [f"rae={rae_run}"])
    source = open_latent_source(rae_run, config.latents, torch.device("cpu"))
    assert source.shape == (32, 16, 16)  # the tiny encoder's width, DINOv2-B's 16×16 grid
    model = build_model(config, source.shape, source.num_classes)
    assert 800e6 < sum(p.numel() for p in model.parameters()) < 900e6
    batch = next(source.batches([torch.tensor([0, 1])], torch.device("cpu")))
    with torch.no_grad():
        out = model(batch.x, torch.tensor([0.3, 0.7]), batch.y)
    assert out.shape == batch.x.shape and torch.isfinite(out).all()
