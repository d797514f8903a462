"""``replab rae encode``: a split's standardised latents written once to sharded ``.npy`` files, so a
diffusion run reads the rows of each batch and never holds the set.

Folder layout: ``meta.json`` (fingerprint of the RAE run, shape, count, shard size, class names) and
``shard-00000.npy`` (fp16 ``[m, C, h, w]``) + ``shard-00000.labels.npy`` per ``shard_size`` items. A
shard appears only when complete (written under a temporary name, then renamed), so an interrupted
job resumes by skipping the shards that exist; under ``torchrun`` rank r encodes shards r, r + W, ….
Rows are read with ``os.pread``, not a memory map: the trainer's memory stays flat however much of
the cache it has touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import yaml
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from replab.core import dist
from replab.core.data import load_images
from replab.core.paths import run_cache
from replab.core.progress import progress_bar
from replab.errors import DataError

META = "meta.json"
HOW_READ = ("mode", "stream_above", "workers", "skip_corrupt")  # data fields that do not change the images
SKIPPED = -2  # the label of a row whose image could not be decoded (data.skip_corrupt)


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
        # only the fields latents depend on; old runs' fingerprints stay as they were
        data = raw.get("data")
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in HOW_READ}
        digest.update(repr((raw.get("encoder"), data)).encode())
        if raw.get("latent_eps", 1e-6) != 1e-6:  # only when set, so that older runs keep their fingerprint
            digest.update(repr(raw["latent_eps"]).encode())
    return digest.hexdigest()[:16]


def latents_dir(rae_run: str | Path) -> Path:
    """``<rae run>/latents``, or ``$REPLAB_CACHE/latents/<hash of its path>`` when the run is shipped inside
    the package or read-only (``core.paths.run_cache``)."""
    return run_cache(rae_run, "latents")


def shard_name(k: int) -> str:
    return f"shard-{k:05d}"


@torch.no_grad()
def encode_to_cache(
    rae_run: str | Path, out: str | Path, split: str = "train", shard_size: int = 1000, batch_size: int = 256,
    device: torch.device | str | None = None,
) -> Path:  # fmt: skip
    """Encode ``split`` of the RAE run's data into ``out`` (resumable; shards split over torchrun ranks)."""
    from replab.core.data import open_images
    from replab.core.image_files import SkipLog
    from replab.core.train import default_device
    from replab.rae.model import load_rae

    dist.init_from_env()
    device = torch.device(device) if device else default_device()
    out = Path(out)
    rae, config = load_rae(rae_run, device)
    data = open_images(config.data, split)
    fingerprint = latents_fingerprint(rae_run) or ""
    meta = {"fingerprint": fingerprint, "rae": str(Path(rae_run).resolve()), "split": split, "n": len(data),
            "shard_size": shard_size, "shape": list(rae.latent_shape), "dtype": "float16",
            "class_names": list(data.class_names)}  # fmt: skip
    if dist.is_main():
        _start(out, meta)
    dist.barrier()
    skips = SkipLog(out if dist.is_main() else None)
    shards = range(dist.rank(), -(-len(data) // shard_size), dist.world_size())
    todo = [k for k in shards if not (out / f"{shard_name(k)}.npy").exists()]
    with progress_bar(sum(min(shard_size, len(data) - k * shard_size) for k in todo), f"encode {split}",
                      unit="img") as bar:  # fmt: skip
        for k in todo:
            start, stop = k * shard_size, min(len(data), (k + 1) * shard_size)
            lists = (torch.arange(s, min(stop, s + batch_size)) for s in range(start, stop, batch_size))
            tmp = out / f"{shard_name(k)}.tmp.npy"
            rows = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(stop - start, *rae.latent_shape))
            labels = np.full(stop - start, -1, dtype=np.int64)
            position = 0
            for batch in data.batches(lists, pin_memory=device.type == "cuda"):
                skips.add(batch.skipped)
                z = rae.encode(batch.images.to(device, non_blocking=True).float().div_(255)).half().cpu().numpy()
                where = position + np.flatnonzero(batch.kept.numpy())  # a skipped file keeps its row, marked
                labels[position : position + len(batch.kept)] = SKIPPED
                rows[where], labels[where] = z, batch.labels.numpy()
                position += len(batch.kept)
                bar.update(len(batch.kept))
            rows.flush()
            del rows
            np.save(out / f"{shard_name(k)}.labels.npy", labels)
            tmp.replace(out / f"{shard_name(k)}.npy")
    dist.barrier()
    return out


def _start(out: Path, meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / META
    if path.exists():
        old = json.loads(path.read_text())
        if {k: old.get(k) for k in meta} != meta:
            changed = [k for k in meta if old.get(k) != meta[k]]
            print(f"{out}: the cache was written for another {', '.join(changed)}; encoding again", file=sys.stderr)
            for stale in out.glob("shard-*"):
                stale.unlink()
    path.write_text(json.dumps(meta, indent=1))


class CachedLatents:
    """The latents written by ``encode_to_cache``, read row by row; all shards must be present."""

    def __init__(self, folder: str | Path, fingerprint: str | None = None) -> None:
        self.folder = Path(folder)
        try:
            self.meta = json.loads((self.folder / META).read_text())
        except (OSError, ValueError) as exc:
            raise DataError(
                f"{self.folder / META}: no latent cache here ({exc}); write one with 'replab rae encode'"
            ) from exc
        if fingerprint is not None and self.meta["fingerprint"] != fingerprint:
            raise DataError(f"{self.folder}: encoded from another version of the RAE run ({self.meta['rae']}); "
                            "encode again with 'replab rae encode'")  # fmt: skip
        self.n, self.shard_size = int(self.meta["n"]), int(self.meta["shard_size"])
        self.shape = tuple(self.meta["shape"])
        self.row_bytes = int(np.prod(self.shape)) * 2
        count = -(-self.n // self.shard_size)
        missing = [shard_name(k) for k in range(count) if not (self.folder / f"{shard_name(k)}.npy").exists()]
        if missing:
            raise DataError(f"{self.folder}: {len(missing)} of {count} shards missing (first {missing[0]}); "
                            "the encode job did not finish — rerun 'replab rae encode' to complete it")  # fmt: skip
        self.labels = torch.from_numpy(np.concatenate(
            [np.load(self.folder / f"{shard_name(k)}.labels.npy") for k in range(count)]))  # fmt: skip
        self._files: dict[int, tuple[int, int]] = {}

    def __len__(self) -> int:
        return self.n

    @property
    def num_classes(self) -> int:
        return len(self.meta.get("class_names") or []) or int(self.labels.max()) + 1

    def _file(self, k: int) -> tuple[int, int]:
        if k not in self._files:
            path = self.folder / f"{shard_name(k)}.npy"
            with path.open("rb") as handle:
                major, _ = np.lib.format.read_magic(handle)
                read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                read_header(handle)
                offset = handle.tell()
            self._files[k] = (os.open(path, os.O_RDONLY), offset)
        return self._files[k]

    def rows(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Latents (float32 ``[B, C, h, w]``), labels, and which rows hold an image (not ``SKIPPED``)."""
        out = np.empty((len(index), *self.shape), dtype=np.float16)
        flat = out.reshape(len(index), -1).view(np.uint8)
        for j, i in enumerate(index.tolist()):
            fd, offset = self._file(i // self.shard_size)
            flat[j] = np.frombuffer(os.pread(fd, self.row_bytes, offset + (i % self.shard_size) * self.row_bytes),
                                    dtype=np.uint8)  # fmt: skip
        labels = self.labels[index]
        kept = labels != SKIPPED
        return torch.from_numpy(out).float()[kept], labels[kept], kept

    def close(self) -> None:
        for fd, _ in self._files.values():
            os.close(fd)
        self._files.clear()


def latents_path(rae_run: str | Path, split: str, limit: int = 0) -> Path:
    name = f"{split}-first{limit}" if limit else split
    return latents_dir(rae_run) / f"{name}.safetensors"


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
