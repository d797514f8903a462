"""Latents precomputed once per RAE run (fp16, standardised): ``<rae run>/latents/{train,test}.safetensors``,
or ``$REPLAB_CACHE`` (default ``~/.cache/replab``) ``/latents/<hash of the run path>/`` when the RAE run
is read-only, like the one shipped under assets/.

Each file records a fingerprint of what produced it (the run's latent statistics and encoder settings);
a file whose fingerprint no longer matches — a shipped RAE replaced by a newer one under the same path —
is encoded again rather than trained on silently."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import torch
import yaml
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from replab.core.data import load_images
from replab.core.progress import progress_bar


def latents_path(rae_run: str | Path, split: str, limit: int = 0) -> Path:
    folder = Path(rae_run).resolve()
    name = f"{split}-first{limit}" if limit else split
    local = folder / "latents" / f"{name}.safetensors"
    if local.exists() or os.access(folder, os.W_OK):
        return local
    cache = Path(os.environ.get("REPLAB_CACHE") or Path.home() / ".cache" / "replab")
    return cache / "latents" / hashlib.sha1(str(folder).encode()).hexdigest()[:16] / f"{name}.safetensors"


def latents_fingerprint(rae_run: str | Path) -> str | None:
    """What the latents of ``rae_run`` depend on, hashed; None for a folder without latent statistics."""
    folder = Path(rae_run)
    stats = folder / "latent_stats.safetensors"
    if not stats.exists():
        return None
    digest = hashlib.sha1(stats.read_bytes())
    config = folder / "config.yaml"
    if config.exists():
        raw = yaml.safe_load(config.read_text()) or {}
        digest.update(repr((raw.get("encoder"), raw.get("data"))).encode())
        if raw.get("latent_eps", 1e-6) != 1e-6:  # only when set, so that older runs keep their fingerprint
            digest.update(repr(raw["latent_eps"]).encode())
    return digest.hexdigest()[:16]


def _stored_fingerprint(path: Path) -> str | None:
    with safe_open(str(path), "pt") as f:
        return (f.metadata() or {}).get("fingerprint")


@torch.no_grad()
def encode_split(
    rae_run: str | Path, split: str, limit: int = 0, batch_size: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """Standardised fp16 latents and labels of a split (its first ``limit`` images when ``limit`` > 0)."""
    from replab.rae.model import load_rae

    rae, config = load_rae(rae_run)
    data = load_images(config.data, split)
    count = min(limit, len(data)) if limit else len(data)
    parts = []
    with progress_bar(count, f"encode {split} latents", unit="img") as bar:
        for start in range(0, count, batch_size):
            parts.append(rae.encode(data.float(slice(start, min(start + batch_size, count)))).half())
            bar.update(len(parts[-1]))
    return torch.cat(parts).contiguous(), data.labels[:count].contiguous()


def load_or_encode(
    rae_run: str | Path, split: str = "train", batch_size: int = 500, limit: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Standardised latents ``[N, C, h, w]`` (float32) and labels of a split (its first ``limit`` images
    when ``limit`` > 0), encoded on first use and again when the RAE run they came from has changed."""
    path = latents_path(rae_run, split, limit)
    fingerprint = latents_fingerprint(rae_run)
    if path.exists() and fingerprint is not None and _stored_fingerprint(path) != fingerprint:
        print(f"{path}: encoded from a different version of {rae_run} (latent statistics or encoder); "
              "encoding again", file=sys.stderr)  # fmt: skip
        path.unlink()
    if not path.exists():
        latents, labels = encode_split(rae_run, split, limit, batch_size)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file({"latents": latents, "labels": labels}, str(tmp), metadata={"fingerprint": fingerprint or ""})
        tmp.replace(path)
    tensors = load_file(str(path))
    return tensors["latents"].float(), tensors["labels"]
