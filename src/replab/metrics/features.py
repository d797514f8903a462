"""FD-fmnist: a small CNN classifier that replab trains on Fashion-MNIST; its penultimate layer gives
the features for an offline Fréchet distance. There is no Inception network offline, so figures
computed with it are labelled "FD-fmnist", never FID, and are comparable only with each other."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from replab.errors import DataError

ASSETS = Path(__file__).resolve().parent.parent / "assets"
FD_FMNIST_DEFAULT = ASSETS / "features" / "fd-fmnist"
FEATURE_LABEL = "FD-fmnist"


@dataclass
class FeatureNetSpec:
    image_size: int = 28
    channels: int = 1
    width: int = 32
    feature_dim: int = 128
    num_classes: int = 10


class FeatureNet(nn.Module):
    def __init__(self, spec: FeatureNetSpec) -> None:
        super().__init__()
        self.spec = spec
        w = spec.width

        def conv(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU())

        self.body = nn.Sequential(
            conv(spec.channels, w), conv(w, w), nn.MaxPool2d(2),
            conv(w, 2 * w), conv(2 * w, 2 * w), nn.MaxPool2d(2),
            conv(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )  # fmt: skip
        self.fc = nn.Linear(4 * w, spec.feature_dim)
        self.classifier = nn.Linear(spec.feature_dim, spec.num_classes)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        if images.shape[1] != self.spec.channels:
            images = images.mean(1, keepdim=True) if self.spec.channels == 1 else images.expand(-1, 3, -1, -1)
        if images.shape[-1] != self.spec.image_size:
            images = F.interpolate(images, size=(self.spec.image_size,) * 2, mode="bilinear", antialias=True)
        return images * 2 - 1

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc(self.body(self.prepare(images))))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images))


@torch.no_grad()
def classify_accuracy(model: FeatureNet, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> float:
    predictions = torch.cat([model(images[i : i + batch_size]).argmax(-1) for i in range(0, len(images), batch_size)])
    return (predictions == labels).float().mean().item()


def save_feature_net(model: FeatureNet, folder: Path, info: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"spec": asdict(model.spec), **info}, indent=1))


def load_feature_net(folder: str | Path | None = None) -> tuple[FeatureNet, dict]:
    folder = Path(folder) if folder else FD_FMNIST_DEFAULT
    if not (folder / "model.safetensors").exists():
        raise DataError(
            f"{FEATURE_LABEL} feature network not found in {folder}; train it with "
            "'replab eval train-features --preset fd-fmnist --out runs/features'"
        )
    info = json.loads((folder / "config.json").read_text())
    model = FeatureNet(FeatureNetSpec(**info["spec"]))
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    return model.eval(), info


@torch.no_grad()
def extract_features(model: FeatureNet, images: torch.Tensor, batch_size: int = 500) -> np.ndarray:
    """[0, 1] images → ``[N, feature_dim]`` float64 features."""
    parts = [model.features(images[i : i + batch_size]).double() for i in range(0, len(images), batch_size)]
    return torch.cat(parts).numpy()
