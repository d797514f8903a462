"""Literature FID through torch-fidelity (preferred) or clean-fid, for users whose machine can load the
Inception weights (both libraries download them on first use). Offline, replab reports FD-fmnist instead.
torch-fidelity gives KID and precision/recall from the same pass over the Inception features."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from replab.errors import ConfigError

INSTALL_HINT = (
    "pip install 'replab[fid]' (torch-fidelity; or clean-fid); both need torchvision and download "
    "Inception weights once"
)


def _uint8_rgb(images: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] in [0, 1] → uint8 [N, 3, H, W] (grayscale repeated); the libraries resize to 299 themselves."""
    images = images.clamp(0, 1)
    if images.shape[1] == 1:
        images = images.repeat(1, 3, 1, 1)
    return (images * 255).round().to(torch.uint8)


class _Images(torch.utils.data.Dataset):
    def __init__(self, images: torch.Tensor) -> None:
        self.images = _uint8_rgb(images)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]


def inception_fid(fake: torch.Tensor, real: torch.Tensor) -> tuple[float, str]:
    """(FID, which library computed it) between two image sets in [0, 1]."""
    metrics, library = inception_metrics(fake, real)
    return metrics["FID"], library


def inception_metrics(fake: torch.Tensor, real: torch.Tensor) -> tuple[dict[str, float], str]:
    """(metrics, which library computed them) between two image sets in [0, 1]: FID, and with torch-fidelity
    also KID (mean and std over subsets of up to 1,000) and precision/recall (k = 3), from one pass."""
    try:
        import torch_fidelity
    except ImportError:
        torch_fidelity = None
    try:
        if torch_fidelity is not None:
            metrics = torch_fidelity.calculate_metrics(
                input1=_Images(fake), input2=_Images(real), fid=True, kid=True, prc=True,
                kid_subset_size=min(1000, len(fake), len(real)), cuda=torch.cuda.is_available(), verbose=False,
            )  # fmt: skip
            names = {"FID": "frechet_inception_distance", "KID": "kernel_inception_distance_mean",
                     "KID_std": "kernel_inception_distance_std", "precision_inception": "precision",
                     "recall_inception": "recall"}  # fmt: skip
            return {
                mine: float(metrics[theirs]) for mine, theirs in names.items() if theirs in metrics
            }, "torch-fidelity"
        try:
            from cleanfid import fid as clean_fid
        except ImportError as exc:
            raise ConfigError(f"--features inception needs torch-fidelity or clean-fid: {INSTALL_HINT}") from exc
        with tempfile.TemporaryDirectory() as tmp:
            folders = [_write_pngs(images, Path(tmp) / name) for name, images in (("fake", fake), ("real", real))]
            return {"FID": float(clean_fid.compute_fid(str(folders[0]), str(folders[1]), mode="clean"))}, "clean-fid"
    except ConfigError:
        raise
    except Exception as exc:  # a failed weight download surfaces here as a network or file error
        raise ConfigError(f"--features inception: could not compute FID ({type(exc).__name__}: {exc})") from exc


def _write_pngs(images: torch.Tensor, folder: Path) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    for i, image in enumerate(_uint8_rgb(images)):
        Image.fromarray(np.ascontiguousarray(image.permute(1, 2, 0).numpy())).save(folder / f"{i:06d}.png")
    return folder
