"""Image sources (Fashion-MNIST IDX, sklearn digits, a folder of images, WebDataset tar shards) and a
deterministic batch order.

Small sets are held in memory as uint8 ``[N, C, H, W]`` (``ImageSet``; ``.float()`` gives ``[0, 1]``
floats); large folders and tar shards stream through DataLoader workers (``core.image_files``).
``open_images`` chooses by ``data.mode``; both kinds give ``batches(index_lists)``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from replab.core.image_files import (
    Batch,
    ImageFileDataset,
    SkipLog,
    StreamingImages,
    count_images,
    list_image_folder,
    open_streaming,
    split_root,
)
from replab.errors import ConfigError, DataError

FMNIST_DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
FMNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
SOURCES = ("fmnist", "digits", "folder", "shards")
MODES = ("auto", "memory", "stream")


@dataclass
class DataConfig:
    source: str = "fmnist"  # fmnist | digits | folder
    path: str | None = None  # fmnist: folder of the IDX files; folder: the image folder
    image_size: int = 28
    channels: int = 1  # 1 = grayscale, 3 = RGB
    limit: int | None = None  # keep only the first N images of each split (smoke runs, tests)
    # memory: decode the split once into RAM; stream: DataLoader workers decode each batch; auto: stream
    # tar shards and folders of more than stream_above images, hold everything else in memory
    mode: str = "auto"
    stream_above: int = 20000
    workers: int = 2  # DataLoader worker processes when streaming (0: decode in the training process)
    skip_corrupt: bool = False  # streaming: drop unreadable files (named, counted) instead of stopping


@dataclass
class ImageSet:
    images: torch.Tensor  # uint8 [N, C, H, W]
    labels: torch.Tensor  # int64 [N]; -1 when unlabeled
    class_names: list[str] = field(default_factory=list)
    name: str = ""

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def float(self, index: torch.Tensor | slice | None = None) -> torch.Tensor:
        images = self.images if index is None else self.images[index]
        return images.float().div_(255.0)

    def batches(self, index_lists: Iterable[torch.Tensor], pin_memory: bool = False) -> Iterator[Batch]:
        """The same interface as a streaming set: one ``Batch`` per index list."""
        for index in index_lists:
            images = self.images[index]
            yield Batch(images.pin_memory() if pin_memory else images, self.labels[index],
                        torch.ones(len(index), dtype=torch.bool), [])  # fmt: skip


def open_images(config: DataConfig, split: str = "train") -> ImageSet | StreamingImages:
    """The split in memory or streaming, as ``data.mode`` says (``auto``: by source and size)."""
    if config.mode not in MODES:
        raise ConfigError(f"data.mode: unknown '{config.mode}'; valid: {', '.join(MODES)}")
    if not _streams(config, split):
        return load_images(config, split)
    if config.limit is not None:
        raise ConfigError("data.limit applies to in-memory sets; a streaming set uses a subset= index list")
    if config.source not in ("folder", "shards"):
        raise ConfigError(f"data.mode=stream: the '{config.source}' source is held in memory (folder or shards stream)")
    return open_streaming(config.source, config.path, split, config.image_size, config.channels, config.workers,
                          config.skip_corrupt)  # fmt: skip


def _streams(config: DataConfig, split: str) -> bool:
    if config.mode != "auto":
        return config.mode == "stream"
    if config.source == "shards":
        return True
    if config.source != "folder" or not config.path or config.limit is not None:
        return False
    return count_images(Path(config.path), split) > config.stream_above


def load_images(config: DataConfig, split: str = "train") -> ImageSet:
    """Load one split (``train`` or ``test``) of the configured source, resized to ``image_size``."""
    if split not in ("train", "test"):
        raise ConfigError(f"data split must be 'train' or 'test', got '{split}'")
    if config.source == "fmnist":
        data = load_fmnist(split, config.path)
    elif config.source == "digits":
        data = load_digits_split(split)
    elif config.source == "folder":
        if not config.path:
            raise ConfigError("data.path: the 'folder' source needs data.path=<folder of images>")
        data = load_image_folder(Path(config.path), split, config.channels, config.image_size, config.limit,
                                 config.skip_corrupt)  # fmt: skip
    elif config.source == "shards":
        raise ConfigError("data.source=shards streams (data.mode=stream or auto); it is never loaded into memory")
    else:
        raise ConfigError(f"data.source: unknown source '{config.source}'; valid: {', '.join(SOURCES)}")
    if config.limit is not None:
        data = ImageSet(data.images[: config.limit], data.labels[: config.limit], data.class_names, data.name)
    return ImageSet(
        _to_shape(data.images, config.image_size, config.channels), data.labels, data.class_names, data.name
    )


def _to_shape(images: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    if images.shape[1] != channels:
        if channels == 3 and images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        elif channels == 1 and images.shape[1] == 3:
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            images = (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
        else:
            raise ConfigError(f"data.channels must be 1 or 3, got {channels}")
    if images.shape[-1] != size or images.shape[-2] != size:
        resized = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True)
        images = resized.round().clamp(0, 255).to(torch.uint8)
    return images.contiguous()


# ---- Fashion-MNIST --------------------------------------------------------------------------------
def fmnist_dir(path: str | None = None) -> Path:
    """Where the Fashion-MNIST IDX files are: an explicit path, $REPLAB_FMNIST_DIR, or Debian's package."""
    folder = Path(path or os.environ.get("REPLAB_FMNIST_DIR") or FMNIST_DEFAULT_DIR)
    if not _idx_file(folder, "train-images-idx3-ubyte"):
        raise DataError(
            f"Fashion-MNIST not found in {folder}: install it with 'apt-get install dataset-fashion-mnist' "
            "(make does this when run as root), or point data.path / $REPLAB_FMNIST_DIR at a folder with "
            "train-images-idx3-ubyte[.gz] and the three other IDX files"
        )
    return folder


def _idx_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.exists():
            return candidate
    return None


_DECODED: dict[tuple[str, int, int], np.ndarray] = {}  # IDX files already decoded by this process


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a read-only array; a malformed file is named in the error.
    A file read before by this process, unchanged since (size and mtime), is not decompressed again."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _DECODED:
        if len(_DECODED) >= 4:  # a data set's two splits, images and labels: about 55 MB for Fashion-MNIST
            _DECODED.pop(next(iter(_DECODED)))
        _DECODED[key] = _decode_idx(path)
    return _DECODED[key]


def _decode_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    expected = int(np.prod(dims))
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != expected:
        raise DataError(f"{path}: header says {dims} ({expected} bytes) but the file holds {body.size}")
    return body.reshape(dims)


def load_fmnist(split: str, path: str | None = None) -> ImageSet:
    folder = fmnist_dir(path)
    prefix = "train" if split == "train" else "t10k"
    images_path = _idx_file(folder, f"{prefix}-images-idx3-ubyte")
    labels_path = _idx_file(folder, f"{prefix}-labels-idx1-ubyte")
    if images_path is None or labels_path is None:
        raise DataError(f"Fashion-MNIST {split} split is incomplete in {folder}")
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{images_path} holds {images.shape[0]} images but {labels_path} {labels.shape[0]} labels")
    return ImageSet(
        torch.from_numpy(images.copy()).unsqueeze(1),
        torch.from_numpy(labels.astype(np.int64)),
        list(FMNIST_CLASSES),
        f"fashion-mnist/{split}",
    )


# ---- sklearn digits -------------------------------------------------------------------------------
def load_digits_split(split: str, test_fraction: float = 0.2) -> ImageSet:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy((digits.images * (255.0 / 16.0)).round().astype(np.uint8)).unsqueeze(1)
    labels = torch.from_numpy(digits.target.astype(np.int64))
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    cut = int(len(labels) * (1 - test_fraction))
    index = order[:cut] if split == "train" else order[cut:]
    return ImageSet(images[index], labels[index], [str(d) for d in range(10)], f"digits/{split}")


# ---- a folder of images ---------------------------------------------------------------------------
def load_image_folder(
    root: Path, split: str, channels: int = 3, size: int = 256, limit: int | None = None, skip_corrupt: bool = False
) -> ImageSet:
    """Images under ``root`` (or ``root/train``, ``root/test``), ADM-cropped to ``size``; sub-folder names
    become class labels. Holds them all in memory: large folders stream instead (``open_images``)."""
    files, labels, class_names = list_image_folder(root, split)
    dataset = ImageFileDataset(files[:limit], labels[:limit], size, channels, skip_corrupt)
    items = [dataset[i] for i in range(len(dataset))]
    SkipLog(None).add([bad for _, _, bad in items if bad])
    kept = [(array, label) for array, label, bad in items if bad is None]
    return ImageSet(
        torch.from_numpy(np.stack([array for array, _ in kept])),
        torch.tensor([label for _, label in kept], dtype=torch.int64),
        class_names,
        f"folder:{split_root(root, split)}",
    )


# ---- batch order ----------------------------------------------------------------------------------
class BatchOrder:
    """A seeded, reproducible order of batches over ``n`` items: batch ``step`` is a pure function of
    (seed, step), so resuming at a step needs no other state. Each epoch is a fresh permutation; a
    batch that straddles two epochs takes the end of one and the start of the next. Under data
    parallelism each rank takes its contiguous share of the global batch."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1) -> None:
        if n <= 0:
            raise DataError("the dataset is empty")
        if batch_size % world:
            raise ConfigError(f"train.batch_size={batch_size} is not divisible by the {world} processes")
        self.n, self.batch_size, self.seed, self.rank, self.world = n, batch_size, seed, rank, world
        self._cache: dict[int, torch.Tensor] = {}

    def _epoch(self, epoch: int) -> torch.Tensor:
        if epoch not in self._cache:
            self._cache = {e: p for e, p in self._cache.items() if e >= epoch - 1}
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._cache[epoch] = torch.randperm(self.n, generator=generator)
        return self._cache[epoch]

    def indices(self, step: int) -> torch.Tensor:
        start = step * self.batch_size
        positions = torch.arange(start, start + self.batch_size)
        share = self.batch_size // self.world
        positions = positions[self.rank * share : (self.rank + 1) * share]
        epochs = positions // self.n
        out = torch.empty_like(positions)
        for epoch in epochs.unique().tolist():
            mask = epochs == epoch
            out[mask] = self._epoch(epoch)[positions[mask] % self.n]
        return out

    def epoch_of(self, step: int) -> float:
        return step * self.batch_size / self.n


# ---- index lists: a subset of a split, hashed so that a run can say exactly which items it used ----
INDEX_FILE = "indices.json"


def index_hash(indices: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(indices, dtype=np.int64).tobytes()).hexdigest()[:16]


def write_index_list(folder: Path, indices: np.ndarray, **info) -> Path:
    """``folder/indices.json``: the kept indices (sorted), their hash and whatever ``info`` describes them."""
    folder.mkdir(parents=True, exist_ok=True)
    indices = np.sort(np.asarray(indices, dtype=np.int64))
    record = {**info, "n": int(len(indices)), "sha256_16": index_hash(indices), "indices": indices.tolist()}
    path = folder / INDEX_FILE
    path.write_text(json.dumps(record))
    return path


def read_index_list(folder: str | Path, n_items: int | None = None) -> torch.Tensor:
    """The indices a folder written by ``write_index_list`` keeps, checked against their hash (and ``n_items``)."""
    path = Path(folder) / INDEX_FILE
    try:
        record = json.loads(path.read_text())
        indices = np.asarray(record["indices"], dtype=np.int64)
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: not a readable index list ({exc})") from exc
    if index_hash(indices) != record.get("sha256_16"):
        raise DataError(f"{path}: the indices do not match their recorded hash (the file was edited?)")
    if n_items is not None and len(indices) and (indices.min() < 0 or indices.max() >= n_items):
        raise DataError(f"{path}: indices run to {indices.max()}, the split has {n_items} items")
    return torch.from_numpy(indices)
