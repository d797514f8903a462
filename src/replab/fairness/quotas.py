"""Exact group quotas: how many of ``n`` samples each group gets for a target, as class labels (balanced
conditioning, for attributes that follow from the label) or as per-sample group assignments (guidance)."""

from __future__ import annotations

import numpy as np
import torch

from replab.errors import ConfigError
from replab.fairness.attributes import CLASS_GROUP


def quotas(target: np.ndarray, n: int) -> np.ndarray:
    """Integer counts summing to ``n`` as close to ``n · target`` as possible (largest remainder)."""
    exact = np.asarray(target, float) * n
    counts = np.floor(exact).astype(int)
    counts[np.argsort(counts - exact)[: n - counts.sum()]] += 1
    return counts


def balanced_labels(
    target: np.ndarray, n: int, seed: int = 0, class_group: tuple[int, ...] = CLASS_GROUP
) -> torch.Tensor:
    """Class labels whose groups meet ``target`` exactly; inside a group its classes take turns."""
    if len(target) != max(class_group) + 1:
        raise ConfigError(
            "balanced conditioning applies to attributes that follow from the label (the group attribute)"
        )
    labels = []
    for group, count in enumerate(quotas(target, n)):
        classes = [c for c, g in enumerate(class_group) if g == group]
        labels += [classes[i % len(classes)] for i in range(count)]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return torch.tensor(labels)[order]


def assign_quota(target: np.ndarray, n: int, seed: int = 0) -> torch.Tensor:
    """Each of ``n`` samples' group, meeting the target's quotas exactly, in a seeded order."""
    groups = np.repeat(np.arange(len(target)), quotas(target, n))
    return torch.from_numpy(groups)[torch.randperm(n, generator=torch.Generator().manual_seed(seed))]
