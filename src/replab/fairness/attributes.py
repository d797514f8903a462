"""Attributes of Fashion-MNIST images that an auditor can compute exactly, on real and generated images alike.

- ``tone`` (dark / light garment): the mean intensity of the foreground (pixels above ``FOREGROUND``),
  split at each class's median over the real training set, so that it is 50/50 inside every class and
  independent of the label. Because the rule is a pixel computation, the probe's real error rate on
  *generated* images can be measured against it — which no anchor with a learned attribute classifier can.
- ``group`` (tops / bottoms / footwear / bags): a function of the class label; an easy case whose default
  target is the reference distribution, not uniform.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

FOREGROUND = 0.1  # intensity in [0, 1] above which a pixel belongs to the garment
TONE_GROUPS = ("dark", "light")
GROUPS = ("tops", "bottoms", "footwear", "bags")
# Fashion-MNIST classes: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
# 7 Sneaker, 8 Bag, 9 Ankle boot
CLASS_GROUP = (0, 1, 0, 1, 0, 2, 0, 2, 3, 2)


def foreground_tone(images: torch.Tensor) -> torch.Tensor:
    """``[N, 1, H, W]`` images in [0, 1] → the mean intensity of each image's foreground (0 for an empty image)."""
    flat = images.flatten(1).float()
    mask = flat > FOREGROUND
    return (flat * mask).sum(1) / mask.sum(1).clamp_min(1)


@dataclass
class ToneRule:
    """Per-class median tone thresholds, fitted on the real training set and stored with a benchmark."""

    thresholds: list[float]

    @classmethod
    def fit(cls, images: torch.Tensor, labels: torch.Tensor, num_classes: int = 10) -> ToneRule:
        tone = foreground_tone(images)
        return cls([float(tone[labels == c].median()) for c in range(num_classes)])

    def groups(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """0 = dark (tone below its class's median), 1 = light; ``labels`` are the images' classes."""
        thresholds = torch.tensor(self.thresholds)[labels.long()]
        return (foreground_tone(images) >= thresholds).long()

    def to_dict(self) -> dict:
        return asdict(self)


def class_groups(labels: torch.Tensor) -> torch.Tensor:
    """Class labels → the ``group`` attribute (tops 0, bottoms 1, footwear 2, bags 3)."""
    return torch.tensor(CLASS_GROUP)[labels.long()]
