"""Features of real images, computed once: every FD-fmnist evaluation and every audit compares samples with
the same 10,000 test images, whose features cost more than the samples' own. They are kept under
``$REPLAB_CACHE/features/``, keyed by the feature network's weights and the images' bytes, so a changed
network or data set is never served stale features."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import torch

from replab.core.paths import cache_root
from replab.metrics.features import FeatureNet, extract_features


def _digest(tensors: list[torch.Tensor]) -> str:
    hasher = hashlib.blake2b(digest_size=16)
    for tensor in tensors:
        hasher.update(str((tuple(tensor.shape), tensor.dtype)).encode())
        hasher.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return hasher.hexdigest()


def real_features(net: FeatureNet, images: torch.Tensor) -> np.ndarray:
    """``extract_features(net, images)``, read from the cache when this network has seen these images."""
    key = f"{_digest(list(net.state_dict().values()))[:16]}-{_digest([images])[:16]}"
    path = cache_root() / "features" / f"{key}.npy"
    if path.exists():
        try:
            return np.load(path)
        except (OSError, ValueError):  # a file cut short: computed again below
            pass
    features = extract_features(net, images)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, features)
    os.replace(tmp, path)
    return features


@torch.no_grad()
def accuracy_from_features(net: FeatureNet, features: np.ndarray, labels: torch.Tensor) -> float:
    """The classifier's accuracy from its own penultimate features (what ``classify_accuracy`` computes)."""
    logits = net.classifier(torch.from_numpy(features).float())
    return (logits.argmax(-1) == labels).float().mean().item()
