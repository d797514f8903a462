"""Tiny diffusion runs on synthetic latents (a fake RAE run folder holding only a latents file)."""

from pathlib import Path

import torch
from safetensors.torch import save_file

from replab.core.config import apply_overrides
from replab.diffusion.train import DiffusionConfig, train_diffusion


def write_fake_latents(folder: Path, n: int = 64, shape=(8, 4, 4), classes: int = 3) -> Path:
    """Synthetic standardised latents with class-dependent means, where train_diffusion looks for them."""
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % classes
    latents = torch.randn((n, *shape), generator=gen) * 0.5 + labels.view(-1, 1, 1, 1).float()
    (folder / "latents").mkdir(parents=True, exist_ok=True)
    save_file({"latents": latents.half().contiguous(), "labels": labels}, str(folder / "latents" / "train.safetensors"))
    return folder


def tiny_config(rae: Path, *extra: str) -> DiffusionConfig:
    return apply_overrides(
        DiffusionConfig(),
        [f"rae={rae}", "model.name=DiT-DH-tiny", "train.batch_size=8", "train.steps=3", "train.warmup_steps=1",
         "train.log_every=1", "train.ckpt_every=3", "train.lr=1e-3", "train.ema_decay=0.9", "train.threads=1",
         "train.bf16=false", *extra],
    )  # fmt: skip


def train_tiny(rae: str, out: str) -> None:
    train_diffusion(tiny_config(Path(rae)), out)
