"""Where a diffusion run's latents come from (``latents`` in its config):

- ``memory``: precomputed once per RAE run (fp16, standardised) into ``<rae run>/latents/{train,test}.safetensors``,
  or ``$REPLAB_CACHE`` (default ``~/.cache/replab``) ``/latents/<hash of the run path>/`` when the RAE run
  is read-only, like the one shipped under assets/ — and held in memory (small sets: Fashion-MNIST, digits);
- ``online``: the frozen encoder runs on the training device on each batch of streamed images, as in the
  official RAE code;
- ``cached``: read row by row from the shards ``replab rae encode`` wrote;
- ``auto``: memory when the RAE's images fit in memory (``data.mode``), else cached when a complete cache
  exists, else online.

Each file records a fingerprint of what produced it (the run's latent statistics and encoder settings);
a file whose fingerprint no longer matches — a shipped RAE replaced by a newer one under the same path —
is encoded again rather than trained on silently."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from replab.core.data import ImageSet, open_images
from replab.core.image_files import SkipLog
from replab.core.run import Run
from replab.errors import ConfigError, DataError, warn
from replab.rae.latent_cache import CachedLatents, latents_dir, latents_fingerprint, latents_path, load_or_encode

LATENT_MODES = ("auto", "memory", "online", "cached")


# ---- latent sources: one interface for the trainer ----------------------------------------------------
@dataclass
class LatentBatch:
    x: torch.Tensor  # float32 [B, C, h, w] on the training device
    y: torch.Tensor  # int64 [B]
    kept: torch.Tensor  # bool [B requested]: items whose image was readable (all, unless data.skip_corrupt)
    skipped: list[str]


class MemoryLatents:
    def __init__(self, latents: torch.Tensor, labels: torch.Tensor) -> None:
        self.latents, self.labels = latents, labels
        self.shape, self.num_classes = tuple(latents.shape[1:]), int(labels.max()) + 1

    def __len__(self) -> int:
        return len(self.latents)

    def batches(self, lists: Iterable[torch.Tensor], device: torch.device) -> Iterator[LatentBatch]:
        for index in lists:
            yield LatentBatch(self.latents[index].to(device), self.labels[index].to(device),
                              torch.ones(len(index), dtype=torch.bool, device=device), [])  # fmt: skip


class CachedSource:
    def __init__(self, cache: CachedLatents) -> None:
        self.cache, self.shape, self.num_classes = cache, cache.shape, cache.num_classes

    def __len__(self) -> int:
        return len(self.cache)

    def batches(self, lists: Iterable[torch.Tensor], device: torch.device) -> Iterator[LatentBatch]:
        pin = device.type == "cuda"
        for index in lists:
            x, y, kept = self.cache.rows(index)
            if pin:
                x = x.pin_memory()
            yield LatentBatch(x.to(device, non_blocking=True), y.to(device), kept.to(device), [])


class OnlineLatents:
    """The frozen encoder on each batch of images, on the training device (bf16 autocast on GPUs)."""

    def __init__(self, rae_run: str | Path, device: torch.device, bf16: bool) -> None:
        from replab.core.train import autocast
        from replab.rae.model import load_rae

        self.rae, config = load_rae(rae_run, device)
        self.images = open_images(config.data, "train")
        self.shape = self.rae.latent_shape
        labels = self.images.labels if isinstance(self.images, ImageSet) else None
        self.num_classes = self.images.num_classes or (int(labels.max()) + 1 if labels is not None else 0)
        self._autocast = lambda: autocast(device, bf16)

    def __len__(self) -> int:
        return len(self.images)

    @torch.no_grad()
    def batches(self, lists: Iterable[torch.Tensor], device: torch.device) -> Iterator[LatentBatch]:
        for batch in self.images.batches(lists, pin_memory=device.type == "cuda"):
            images = batch.images.to(device, non_blocking=True).float().div_(255)
            with self._autocast():
                x = self.rae.encode(images).float()
            yield LatentBatch(x, batch.labels.to(device), batch.kept.to(device), batch.skipped)


def latent_mode(rae_run: str | Path, mode: str, cache: str | Path | None = None) -> str:
    """``auto`` resolved: memory for in-memory image sets (or latents already encoded so), else cached when a
    complete cache exists, else online."""
    if mode not in LATENT_MODES:
        raise ConfigError(f"latents: unknown mode '{mode}'; valid: {', '.join(LATENT_MODES)}")
    if mode != "auto":
        return mode
    if latents_path(rae_run, "train").exists():
        return "memory"
    from replab.core.config import from_dict
    from replab.core.data import DataConfig, _streams

    data = from_dict(DataConfig, Run.read_config(rae_run).get("data") or {}, f"{rae_run}/config.yaml:data")
    if not _streams(data, "train"):
        return "memory"
    folder = Path(cache or latents_dir(rae_run) / "train-cache")
    try:
        CachedLatents(folder, latents_fingerprint(rae_run))
        return "cached"
    except (DataError, OSError) as exc:  # no usable cache: the encoder runs on each batch instead
        why = "there is none" if not folder.exists() else str(exc)
        warn(
            f"latents=auto: not reading the latent cache {folder} ({why}); encoding online on each batch "
            "('replab rae encode' writes the cache)"
        )
        return "online"


def open_latent_source(
    rae_run: str | Path, mode: str, device: torch.device, *, cache: str = "", limit: int = 0, bf16: bool = False
) -> MemoryLatents | CachedSource | OnlineLatents:
    """The training latents of ``rae_run`` in the given mode (see the module docstring)."""
    mode = latent_mode(rae_run, mode, cache or None)
    if limit and mode != "memory":
        raise ConfigError(f"train_images={limit} applies to latents=memory; with '{mode}' give subset= instead")
    if mode == "memory":
        return MemoryLatents(*load_or_encode(rae_run, "train", limit=limit))
    if mode == "cached":
        return CachedSource(CachedLatents(cache or latents_dir(rae_run) / "train-cache", latents_fingerprint(rae_run)))
    return OnlineLatents(rae_run, device, bf16)


__all__ = ["LATENT_MODES", "LatentBatch", "SkipLog", "latents_fingerprint", "load_or_encode", "open_latent_source"]
