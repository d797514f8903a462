"""k-NN manifold precision and recall (Kynkäänniemi et al., 2019) on feature sets."""

from __future__ import annotations

import numpy as np
import torch


def _radii(features: torch.Tensor, k: int) -> torch.Tensor:
    distances = torch.cdist(features, features)
    return distances.kthvalue(k + 1, dim=1).values  # k+1: the point itself is its own nearest neighbour


def _inside(points: torch.Tensor, manifold: torch.Tensor, radii: torch.Tensor, chunk: int = 1000) -> torch.Tensor:
    inside = []
    for start in range(0, len(points), chunk):
        d = torch.cdist(points[start : start + chunk], manifold)
        inside.append((d <= radii[None]).any(dim=1))
    return torch.cat(inside)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Precision: share of generated samples inside the real manifold; recall: the converse."""
    real_t, fake_t = torch.from_numpy(np.asarray(real, np.float64)), torch.from_numpy(np.asarray(fake, np.float64))
    precision = _inside(fake_t, real_t, _radii(real_t, k)).double().mean().item()
    recall = _inside(real_t, fake_t, _radii(fake_t, k)).double().mean().item()
    return precision, recall
