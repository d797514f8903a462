"""Image sets too large for memory: an ImageFolder layout (``train/<class>/*.JPEG``) or WebDataset tar
shards, decoded by DataLoader workers with the paper's preprocessing (ADM's resize + centre crop).

A batch is still a pure function of (seed, step): the trainer hands the loader the index lists of
``BatchOrder`` from the resume step on, so resuming is exact with any number of workers. A file that
cannot be decoded stops the run with its name, or — with ``data.skip_corrupt`` — is dropped from its
batch, named on stderr and in ``skipped_files.txt`` and counted in metrics.jsonl.
"""

from __future__ import annotations

import io
import json
import sys
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from replab.errors import ConfigError, DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
SHARD_INDEX = "shards.json"  # the wids descriptor: {"shardlist": [{"url": ..., "nsamples": ...}]}


# ---- listing ------------------------------------------------------------------------------------
def split_root(root: Path, split: str) -> Path:
    """``root/<split>`` when ``root`` has a ``train/`` folder, else ``root`` itself."""
    if not root.exists():
        raise DataError(f"data.path: {root} does not exist")
    if (root / "train").is_dir():
        root = root / split
        if not root.is_dir():
            raise DataError(f"{root.parent} has a train/ folder but no {split}/ folder")
    return root


def list_image_folder(root: Path, split: str) -> tuple[list[Path], list[int], list[str]]:
    """Image files under ``root`` (or ``root/<split>``), sorted; sub-folder names become class labels (-1: none)."""
    if not root.is_dir():
        raise DataError(f"data.path: {root} is not a folder")
    root = split_root(root, split)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found under {root}")
    names = [p.parent.relative_to(root).as_posix() for p in files]
    class_names = sorted(set(names) - {"."})
    index = {name: i for i, name in enumerate(class_names)}
    return files, [index.get(name, -1) for name in names], class_names


def count_images(root: Path, split: str) -> int:
    """How many images a folder holds (for choosing memory or streaming), without decoding any."""
    root = split_root(root, split)
    return sum(1 for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


# ---- decoding -------------------------------------------------------------------------------------
def center_crop(image, size: int):
    """ADM's preprocessing (the RAE and DiT releases'): halve with a box filter while the short side is
    at least twice ``size``, resize the short side to ``size`` (bicubic), crop the centre square."""
    from PIL import Image

    while min(image.size) >= 2 * size:
        image = image.resize(tuple(x // 2 for x in image.size), resample=Image.BOX)
    scale = size / min(image.size)
    image = image.resize(tuple(round(x * scale) for x in image.size), resample=Image.BICUBIC)
    left, top = (image.size[0] - size) // 2, (image.size[1] - size) // 2
    return image.crop((left, top, left + size, top + size))


def decode_image(source: Path | bytes, size: int, channels: int, name: str) -> np.ndarray:
    """A file (or its bytes) → uint8 ``[C, size, size]``; ``DataError`` naming ``name`` if it is not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            image.load()
            image = image.convert("L" if channels == 1 else "RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{name}: not a readable image ({exc})") from exc
    array = np.asarray(center_crop(image, size), dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


# ---- datasets: item i → (uint8 image, label, None) or, when skipping, (None, label, the bad file) ------
class ImageFileDataset(Dataset):
    def __init__(self, files: list[Path], labels: list[int], size: int, channels: int, skip_corrupt: bool):
        self.files, self.labels = files, labels
        self.size, self.channels, self.skip_corrupt = size, channels, skip_corrupt

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        try:
            return decode_image(self.files[i], self.size, self.channels, str(self.files[i])), self.labels[i], None
        except DataError:
            if not self.skip_corrupt:
                raise
            return None, self.labels[i], str(self.files[i])


def shard_list(path: Path, split: str) -> list[dict]:
    """The shards of a split, with their sample counts: from ``shards.json`` (the wids descriptor written
    by ``replab data shards``) when there is one, else every ``*.tar`` under the folder, counted once."""
    if path.is_file() and path.suffix == ".json":
        index_file, folder = path, path.parent
    else:
        folder = split_root(path, split)
        index_file = folder / SHARD_INDEX
    if index_file.exists():
        try:
            shards = json.loads(index_file.read_text())["shardlist"]
            return [{"url": str(folder / s["url"]), "nsamples": int(s["nsamples"])} for s in shards]
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{index_file}: not a shard list ({exc})") from exc
    tars = sorted(folder.glob("*.tar"))
    if not tars:
        raise DataError(f"no tar shards (*.tar) or {SHARD_INDEX} found in {folder}")
    return [{"url": str(t), "nsamples": len(_open_shard(t))} for t in tars]


def _open_shard(path: Path | str):
    from wids.wids import IndexedTarSamples

    try:
        return IndexedTarSamples(path=str(path))
    except Exception as exc:  # wids raises assertion and tar errors alike
        raise DataError(f"{path}: not a readable tar shard ({exc})") from exc


class TarShardDataset(Dataset):
    """Random access into WebDataset shards through webdataset's indexed reader (``wids``): sample ``i``
    is in the shard whose cumulative count passes ``i``; a worker keeps its last few shards open."""

    IMAGE_KEYS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")

    def __init__(self, shards: list[dict], size: int, channels: int, skip_corrupt: bool, keep_open: int = 4):
        self.shards, self.size, self.channels, self.skip_corrupt = shards, size, channels, skip_corrupt
        self.ends = np.cumsum([s["nsamples"] for s in shards])
        self.keep_open = keep_open
        self._open: OrderedDict[str, object] = OrderedDict()

    def __len__(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0

    def _shard(self, url: str):
        if url in self._open:
            self._open.move_to_end(url)
        else:
            self._open[url] = _open_shard(url)
            while len(self._open) > self.keep_open:
                self._open.popitem(last=False)[1].close()
        return self._open[url]

    def __getitem__(self, i: int):
        k = int(np.searchsorted(self.ends, i, side="right"))
        inner = i - (int(self.ends[k - 1]) if k else 0)
        sample = self._shard(self.shards[k]["url"])[inner]
        origin = sample[".path"].read().decode() if ".path" in sample else sample["__key__"]
        name = f"{self.shards[k]['url']}:{origin}"
        label = int(sample[".cls"].read().decode().strip()) if ".cls" in sample else -1
        data = next((sample[key].read() for key in self.IMAGE_KEYS if key in sample), None)
        try:
            if data is None:
                raise DataError(f"{name}: no image ({', '.join(self.IMAGE_KEYS)}) in this sample")
            return decode_image(data, self.size, self.channels, name), label, None
        except DataError:
            if not self.skip_corrupt:
                raise
            return None, label, name


def shard_class_names(path: Path, split: str) -> list[str]:
    folder = path.parent if path.is_file() else split_root(path, split)
    record = json.loads((folder / SHARD_INDEX).read_text()) if (folder / SHARD_INDEX).exists() else {}
    return list(record.get("class_names", []))


# ---- batches --------------------------------------------------------------------------------------
@dataclass
class Batch:
    images: torch.Tensor  # uint8 [B, C, H, W] of the readable items
    labels: torch.Tensor  # int64 [B]
    kept: torch.Tensor  # bool [B requested]: which of the requested items are in the batch
    skipped: list[str]  # the files dropped from this batch


def _collate(items: list) -> Batch:
    good = [(image, label) for image, label, bad in items if bad is None]
    kept = torch.tensor([bad is None for _, _, bad in items])
    if not good:
        raise DataError(f"every file of a batch is unreadable (first: {items[0][2]})")
    images = torch.from_numpy(np.stack([image for image, _ in good]))
    return Batch(images, torch.tensor([label for _, label in good]), kept, [b for _, _, b in items if b])


class StreamingImages:
    """An image set on disk, read in batches by DataLoader workers; ``len`` is the number of items."""

    def __init__(self, dataset: Dataset, class_names: list[str], name: str, workers: int = 2) -> None:
        self.dataset, self.class_names, self.name, self.workers = dataset, class_names, name, workers
        self.labels = self._labels()

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def _labels(self) -> torch.Tensor | None:
        labels = getattr(self.dataset, "labels", None)  # a folder knows its labels without decoding
        return torch.tensor(labels) if labels is not None else None

    def batches(self, index_lists: Iterable[torch.Tensor], pin_memory: bool = False) -> Iterator[Batch]:
        """One ``Batch`` per index list, in order (the workers decode ahead)."""
        loader = DataLoader(
            self.dataset, batch_sampler=_Lists(index_lists), num_workers=self.workers, collate_fn=_collate,
            pin_memory=pin_memory, prefetch_factor=2 if self.workers else None,
            persistent_workers=False,
        )  # fmt: skip
        try:
            yield from loader
        except DataError as exc:  # a worker's error arrives wrapped in its traceback: keep the message
            message = str(exc).strip().splitlines()[-1]
            raise DataError(message.removeprefix(f"{DataError.__module__}.DataError: ")) from None


class _Lists:
    """A DataLoader batch sampler over precomputed index lists (no ``len``: the stream may be long)."""

    def __init__(self, lists: Iterable[torch.Tensor]) -> None:
        self.lists = lists

    def __iter__(self):
        for index in self.lists:
            yield index.tolist()


def open_streaming(source: str, path: str | None, split: str, size: int, channels: int, workers: int,
                   skip_corrupt: bool) -> StreamingImages:  # fmt: skip
    """A folder or tar-shard source as a ``StreamingImages``."""
    if not path:
        raise ConfigError(f"data.path: the '{source}' source needs data.path=<folder>")
    root = Path(path)
    if source == "folder":
        files, labels, classes = list_image_folder(root, split)
        dataset: Dataset = ImageFileDataset(files, labels, size, channels, skip_corrupt)
    elif source == "shards":
        dataset = TarShardDataset(shard_list(root, split), size, channels, skip_corrupt)
        classes = shard_class_names(root, split)
    else:
        raise ConfigError(f"data.source: '{source}' cannot stream (only folder and shards)")
    return StreamingImages(dataset, classes, f"{source}:{root}/{split}", workers)


class SkipLog:
    """The files a run has skipped: each named once on stderr and in ``skipped_files.txt`` (kept across
    resumes), and counted per logging window for metrics.jsonl (``take``)."""

    def __init__(self, folder: Path | None) -> None:
        self.path = folder / "skipped_files.txt" if folder else None
        self.names = set(self.path.read_text().split("\n")) - {""} if self.path and self.path.exists() else set()
        self.window = 0

    def add(self, names: list[str]) -> None:
        self.window += len(names)
        for name in names:
            if name not in self.names:
                self.names.add(name)
                print(f"skipped unreadable image: {name}", file=sys.stderr)
                if self.path:
                    with self.path.open("a") as handle:
                        handle.write(name + "\n")

    def take(self) -> int:
        count, self.window = self.window, 0
        return count


# ---- writing shards -------------------------------------------------------------------------------
def write_shards(source: str | Path, out: str | Path, per_shard: int = 1000) -> list[Path]:
    """Copy an image folder (each of its ``train``/``test`` splits, or the folder itself) into WebDataset
    tar shards with webdataset's ``ShardWriter``: the files' bytes unchanged, the class index as ``.cls``,
    the file's path in the folder as ``.path``, and per split a ``shards.json`` (the wids descriptor, with
    the class names). Returns the split folders."""
    import webdataset as wds

    source, out = Path(source), Path(out)
    splits = [s for s in ("train", "test") if (source / s).is_dir()] or [""]
    written = []
    for split in splits:
        files, labels, classes = list_image_folder(source, split or "train")
        folder = out / split if split else out
        folder.mkdir(parents=True, exist_ok=True)
        with wds.ShardWriter(str(folder / "shard-%05d.tar"), maxcount=per_shard, verbose=0) as sink:
            for i, (path, label) in enumerate(zip(files, labels)):
                name = path.relative_to(split_root(source, split or "train")).as_posix()
                sink.write({"__key__": f"{i:08d}", path.suffix.lower().lstrip("."): path.read_bytes(),
                            "cls": str(label).encode(), "path": name.encode()})  # fmt: skip
        tars = sorted(folder.glob("shard-*.tar"))
        sizes = [min(per_shard, len(files) - k * per_shard) for k in range(len(tars))]
        shardlist = [{"url": t.name, "nsamples": n} for t, n in zip(tars, sizes)]
        record = {"__kind__": "wids-shard-index-v1", "class_names": classes, "shardlist": shardlist}
        (folder / SHARD_INDEX).write_text(json.dumps(record, indent=1))
        written.append(folder)
    return written
