"""A synthetic ImageNet-layout folder (JPEGs of mixed sizes in class folders, one corrupt file), its tar-shard
copy, and tiny RAE / DiT-DH configs that stream from them with a tiny random DINOv2 built locally."""

from pathlib import Path

import numpy as np
import transformers
from PIL import Image

from replab.core.config import apply_overrides
from replab.diffusion.train import DiffusionConfig, train_diffusion
from replab.rae.model import RAEConfig

CLASSES = ("n01440764", "n01443537", "n01484850", "n01491361")
CORRUPT = "n01443537/broken_0007.JPEG"


def write_imagenet_folder(root: Path, per_class: int = 50, corrupt: bool = True, size_range=(40, 96)) -> Path:
    """``root/train/<wnid>/*.JPEG``: class-coloured noise of random sizes (aspect ratios from 0.5 to 2)."""
    rng = np.random.default_rng(0)
    for c, wnid in enumerate(CLASSES):
        folder = root / "train" / wnid
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            h, w = rng.integers(*size_range, size=2)
            base = np.array([60 * c, 255 - 60 * c, 120], dtype=np.float32)
            pixels = np.clip(base + rng.normal(0, 40, size=(h, w, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{wnid}_{i:04d}.JPEG", quality=85)
    if corrupt:
        (root / "train" / CORRUPT).write_bytes(b"\xff\xd8\xff\xe0 truncated, not a jpeg")
    return root


def write_tiny_dinov2(folder: Path) -> Path:
    transformers.Dinov2WithRegistersModel(transformers.Dinov2WithRegistersConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, image_size=56,
        patch_size=14, num_register_tokens=4)).save_pretrained(folder)  # fmt: skip
    return folder


def rae_config(data: Path, encoder: Path, source: str = "folder", *extra: str) -> RAEConfig:
    return apply_overrides(
        RAEConfig(),
        [f"data.source={source}", f"data.path={data}", "data.image_size=32", "data.channels=3", "data.mode=stream",
         "data.workers=2", "data.skip_corrupt=true", "encoder.name=dinov2", f"encoder.weights={encoder}",
         "encoder.input_size=56", "decoder.size=tiny", "loss.gan=0", "loss.perceptual=0", "stats_images=64",
         "train.steps=4", "train.batch_size=8", "train.warmup_steps=1", "train.log_every=2", "train.ckpt_every=2",
         "train.threads=1", "train.bf16=false", *extra],
    )  # fmt: skip


def dit_config(rae: Path, latents: str, *extra: str) -> DiffusionConfig:
    return apply_overrides(
        DiffusionConfig(),
        [f"rae={rae}", f"latents={latents}", "model.name=DiT-DH-tiny", "model.style=official-rae",
         "train.batch_size=8", "train.steps=4", "train.warmup_steps=1", "train.log_every=2", "train.ckpt_every=2",
         "train.lr=1e-3", "train.threads=1", "train.bf16=false", *extra],
    )  # fmt: skip


def train_streaming_dit(rae: str, out: str, latents: str, *extra: str) -> None:
    train_diffusion(dit_config(Path(rae), latents, *extra), out)
