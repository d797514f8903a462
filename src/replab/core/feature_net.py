"""``replab eval train-features``: the job that trains the FD-fmnist feature network
(``replab.metrics.features`` holds the network and the pure feature functions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from replab.core.config import to_dict
from replab.core.data import BatchOrder, DataConfig, load_images
from replab.core.loop import TrainLoop
from replab.core.run import Run
from replab.core.train import RESUMABLE_KEYS, TrainConfig, adamw, start_training
from replab.metrics.features import FEATURE_LABEL, FeatureNet, FeatureNetSpec, classify_accuracy, save_feature_net


@dataclass
class FeatureNetConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: FeatureNetSpec = field(default_factory=FeatureNetSpec)
    train: TrainConfig = field(default_factory=TrainConfig)


def train_feature_net(config: FeatureNetConfig, out: str | Path) -> Path:
    """Supervised training with light augmentation (random shifts); exports to ``<out>/features``."""
    tc = config.train
    device = start_training(tc)
    data, test = load_images(config.data, "train"), load_images(config.data, "test")
    model = FeatureNet(config.model).to(device)
    optimizer = adamw(model.parameters(), tc, betas=(0.9, 0.999))
    shifts = torch.Generator().manual_seed(tc.seed + 1)
    order = BatchOrder(len(data), tc.batch_size, tc.seed)
    with Run(out, to_dict(config), kind="feature-net", mutable=RESUMABLE_KEYS) as run:
        loop = TrainLoop(run, tc, {"model": model}, {"model": optimizer}, {"shifts": shifts},
                         units={"images": tc.batch_size}, desc="feature net")  # fmt: skip
        for step in loop:
            model.train()
            index = order.indices(step)
            images = _random_shift(data.float(index), shifts).to(device)
            loss = F.cross_entropy(model(images), data.labels[index].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loop.end_step(step, loss=loss)
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
