"""Latents precomputed once per RAE run (fp16, standardised): ``<rae run>/latents/{train,test}.safetensors``,
or ``$REPLAB_CACHE`` (default ``~/.cache/replab``) ``/latents/<hash of the run path>/`` when the RAE run
is read-only, like the one shipped under assets/."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from replab.core.data import load_images


def latents_path(rae_run: str | Path, split: str, limit: int = 0) -> Path:
    folder = Path(rae_run).resolve()
    name = f"{split}-first{limit}" if limit else split
    local = folder / "latents" / f"{name}.safetensors"
    if local.exists() or os.access(folder, os.W_OK):
        return local
    cache = Path(os.environ.get("REPLAB_CACHE") or Path.home() / ".cache" / "replab")
    return cache / "latents" / hashlib.sha1(str(folder).encode()).hexdigest()[:16] / f"{name}.safetensors"


@torch.no_grad()
def load_or_encode(
    rae_run: str | Path, split: str = "train", batch_size: int = 500, limit: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Standardised latents ``[N, C, h, w]`` (float32) and labels of a split (its first ``limit`` images
    when ``limit`` > 0), encoded on first use."""
    path = latents_path(rae_run, split, limit)
    if not path.exists():
        from replab.rae.model import load_rae

        rae, config = load_rae(rae_run)
        data = load_images(config.data, split)
        count = min(limit, len(data)) if limit else len(data)
        parts = []
        for start in tqdm(range(0, count, batch_size), desc=f"encode {split} latents", unit="batch"):
            parts.append(rae.encode(data.float(slice(start, min(start + batch_size, count)))).half())
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file({"latents": torch.cat(parts).contiguous(), "labels": data.labels[:count].contiguous()}, str(tmp))
        tmp.replace(path)
    tensors = load_file(str(path))
    return tensors["latents"].float(), tensors["labels"]
