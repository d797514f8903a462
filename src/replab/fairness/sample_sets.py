"""Sample sets from anyone's generator: a folder of PNG/JPEG images, or an ``.npz``.

A folder's class sub-folders (``0`` … ``9``, or Fashion-MNIST's class names) give the class labels the
per-class analysis and the tone auditor use; images directly in the folder have none. An ``.npz`` holds
``images`` (``[N, H, W]``, ``[N, C, H, W]`` or ``[N, H, W, C]``, uint8 0–255 or float 0–1) and optionally
``labels`` (``[N]`` integers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from replab.errors import DataError

FMNIST_CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")
SUFFIXES = (".png", ".jpg", ".jpeg")


def load_sample_set(path: str | Path) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Images ``[N, C, H, W]`` in [0, 1] and class labels ``[N]`` (None without class sub-folders)."""
    path = Path(path)
    if path.suffix == ".npz":
        return _from_npz(path)
    if not path.is_dir():
        raise DataError(f"{path}: expected a folder of PNG/JPEG images or an .npz file")
    return _from_folder(path)


def _class_of(name: str) -> int | None:
    if name.isdigit():
        return int(name)
    key = name.lower().replace("_", "-").replace(" ", "-")
    aliases = {"tshirt": "t-shirt", "t-shirt-top": "t-shirt", "ankle-boot": "boot", "t-shirt/top": "t-shirt"}
    key = aliases.get(key, key)
    return FMNIST_CLASSES.index(key) if key in FMNIST_CLASSES else None


def _from_folder(folder: Path) -> tuple[torch.Tensor, torch.Tensor | None]:
    loose = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES)
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if loose and classes:
        raise DataError(f"{folder}: holds both images and sub-folders; put every image in a class sub-folder or none")
    files: list[tuple[Path, int | None]] = [(p, None) for p in loose]
    for sub in classes:
        label = _class_of(sub.name)
        if label is None:
            raise DataError(f"{sub}: a class sub-folder is named 0…9 or a Fashion-MNIST class "
                            f"({', '.join(FMNIST_CLASSES)})")  # fmt: skip
        files += [(p, label) for p in sorted(sub.iterdir()) if p.suffix.lower() in SUFFIXES]
    if not files:
        raise DataError(f"{folder}: no PNG or JPEG images found")
    labels = None if loose else torch.tensor([label for _, label in files])
    return _read_images([file for file, _ in files], folder), labels


def load_group_folder(path: str | Path) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """A labelled attribute folder: one sub-folder of PNG/JPEG images per group (``dark/``, ``light/``, …).
    Returns the images ``[N, C, H, W]`` in [0, 1], each one's group index, and the groups' names (sorted)."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"{folder}: expected a folder with one sub-folder of images per group")
    groups = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(groups) < 2:
        raise DataError(f"{folder}: expected at least two group sub-folders, found {len(groups)}")
    files, index = [], []
    for g, sub in enumerate(groups):
        mine = sorted(p for p in sub.iterdir() if p.suffix.lower() in SUFFIXES)
        if not mine:
            raise DataError(f"{sub}: no PNG or JPEG images in this group")
        files += mine
        index += [g] * len(mine)
    return _read_images(files, folder), torch.tensor(index), [g.name for g in groups]


def _read_images(files: list[Path], folder: Path) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    pixels = []
    for file in files:
        try:
            with Image.open(file) as picture:
                pixels.append(np.asarray(picture.convert("L" if picture.mode in ("L", "1", "P", "LA") else "RGB")))
        except (OSError, UnidentifiedImageError) as exc:
            raise DataError(f"{file}: not a readable image ({exc})") from exc
    shapes = {p.shape for p in pixels}
    if len(shapes) > 1:
        raise DataError(f"{folder}: images of different sizes {sorted(shapes)[:3]}; a sample set has one size")
    return _as_tensor(np.stack(pixels), folder)


def check_shape(images: torch.Tensor, where: str | Path, data) -> None:
    """Images must be what the encoder reads (``data``: its RAE's DataConfig): one line naming both shapes."""
    expected = (data.channels, data.image_size, data.image_size)
    if tuple(images.shape[1:]) != expected:
        raise DataError(f"{where}: images of shape {tuple(images.shape[1:])}, but the probe's encoder reads "
                        f"{expected}")  # fmt: skip


def _from_npz(path: Path) -> tuple[torch.Tensor, torch.Tensor | None]:
    try:
        data = np.load(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npz ({exc})") from exc
    if "images" not in data:
        raise DataError(f"{path}: field 'images' missing (found: {', '.join(data.files) or 'nothing'})")
    images = _as_tensor(data["images"], path)
    labels = None
    if "labels" in data:
        labels = torch.as_tensor(np.asarray(data["labels"]).astype(np.int64))
        if labels.shape != (len(images),):
            raise DataError(f"{path}: field 'labels': shape {tuple(labels.shape)}, expected ({len(images)},)")
    return images, labels


def _as_tensor(array: np.ndarray, where: Path) -> torch.Tensor:
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4 and array.shape[-1] in (1, 3) and array.shape[1] not in (1, 3):
        array = array.transpose(0, 3, 1, 2)
    if array.ndim != 4 or array.shape[1] not in (1, 3):
        raise DataError(f"{where}: images of shape {array.shape}; expected [N, H, W], [N, C, H, W] or [N, H, W, C]")
    scale = 255.0 if array.dtype == np.uint8 or array.max() > 1.0 else 1.0
    return torch.from_numpy(np.ascontiguousarray(array)).float().div_(scale).clamp_(0, 1)
