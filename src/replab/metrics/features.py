"""FD-fmnist: a small CNN classifier that replab trains on Fashion-MNIST; its penultimate layer gives
the features for an offline Fréchet distance. There is no Inception network offline, so figures
computed with it are labelled "FD-fmnist", never FID, and are comparable only with each other."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from replab.core.config import to_dict
from replab.core.data import BatchOrder, DataConfig, load_images
from replab.core.errors import DataError
from replab.core.run import Run
from replab.core.train import RESUMABLE_KEYS, TrainConfig, default_device, lr_at, set_lr, setup_threads

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


@dataclass
class FeatureNetConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: FeatureNetSpec = field(default_factory=FeatureNetSpec)
    train: TrainConfig = field(default_factory=TrainConfig)


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


def train_feature_net(config: FeatureNetConfig, out: str | Path) -> Path:
    """Supervised training with light augmentation (random shifts); exports to ``<out>/features``."""
    tc = config.train
    setup_threads(tc.threads)
    torch.manual_seed(tc.seed)
    device = default_device()
    data, test = load_images(config.data, "train"), load_images(config.data, "test")
    model = FeatureNet(config.model).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    shifts = torch.Generator().manual_seed(tc.seed + 1)
    with Run(out, to_dict(config), kind="feature-net", mutable=RESUMABLE_KEYS) as run:
        state = run.resume({"model": model}, {"model": optimizer}, {"shifts": shifts})
        start = state["step"] if state else 0
        order = BatchOrder(len(data), tc.batch_size, tc.seed)
        bar = run.progress(tc.steps, start, desc="feature net")
        with run.phase("train"):
            for step in range(start, tc.steps):
                model.train()
                set_lr(optimizer, lr_at(step, tc))
                index = order.indices(step)
                images = _random_shift(data.float(index), shifts).to(device)
                loss = F.cross_entropy(model(images), data.labels[index].to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                run.add_units("steps", 1)
                run.add_units("images", len(index))
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
                if (step + 1) % tc.log_every == 0:
                    run.log(step + 1, loss=loss.item(), lr=lr_at(step, tc))
                if (step + 1) % tc.ckpt_every == 0 or step + 1 == tc.steps:
                    run.save(step + 1, {"model": model}, {"model": optimizer}, {"shifts": shifts})
        bar.close()
        with run.phase("eval"):
            accuracy = classify_accuracy(model.eval(), test.float(), test.labels)
        run.log(tc.steps, event="test", accuracy=accuracy)
        export = run.folder / "features"
        save_feature_net(model, export, {"test_accuracy": accuracy, "trained_by": str(run.folder)})
        print(f"{FEATURE_LABEL} classifier test accuracy: {accuracy:.4f}")
    return export


def _random_shift(images: torch.Tensor, generator: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    padded = F.pad(images, (max_shift,) * 4)
    dx, dy = torch.randint(0, 2 * max_shift + 1, (2,), generator=generator).tolist()
    h, w = images.shape[-2:]
    return padded[..., dy : dy + h, dx : dx + w]


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
