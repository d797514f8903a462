"""``--fair resample``: rejection sampling on the probe's predictions, calibrated by its confusion matrix.

A candidate predicted as h is kept with probability a_h, where C·a ∝ target / p, C is the probe's confusion
on held-out real images and p the generator's error-corrected distribution (from a pilot batch). The kept
samples' *true* groups then follow the target whenever C holds on generated images. Weights from soft
posteriors, w = Σ_g q_g·target_g/p_g, do not: resampling cannot change which group an ambiguous-looking
sample really is (with a 90 %-accurate probe they took a fake generator's 10 % minority to 25 %, not 50 %).
Reports the draws per kept sample (its cost).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from replab.errors import ConfigError
from replab.fairness.rejection import reject
from replab.metrics.fairness import group_distribution, invert_confusion


def acceptance(target: np.ndarray, true_share: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """Keep-probability per *predicted* group: a with C·a ∝ target / p (clipped at 0, scaled to max 1)."""
    if (true_share <= 1e-6).any():
        raise ConfigError(f"the generator made no sample of group {int(np.argmin(true_share))} in the pilot batch: "
                          "resampling cannot create a group it never draws")  # fmt: skip
    a = np.clip(np.linalg.solve(np.asarray(confusion, float), np.asarray(target, float) / true_share), 0, None)
    if a.max() <= 0:
        raise ConfigError("no acceptance probabilities reach the target with this probe's confusion matrix")
    return a / a.max()


def importance_resample(
    draw: Callable[[int, int], tuple[tuple[torch.Tensor, ...], np.ndarray]],
    target: np.ndarray,
    confusion: np.ndarray,
    n: int,
    batch: int = 500,
    max_draws: int = 100_000,
    seed: int = 0,
) -> tuple[tuple[torch.Tensor, ...], dict]:
    """``n`` kept samples. ``draw(count, batch_index)`` returns (tensors that share their first dimension — the
    images, their labels —, the probe's predicted group of each); the kept rows of each tensor come back."""
    state: dict = {}

    def accept(predicted: np.ndarray, _labels=None) -> np.ndarray:
        if not state:  # the pilot batch: the generator's error-corrected distribution
            state["true_share"] = invert_confusion(group_distribution(predicted, len(target)), confusion)
            state["keep"] = acceptance(target, state["true_share"], confusion)
        return state["keep"][predicted]

    out, info = reject(draw, accept, n, batch, max_draws, seed, "importance resampling")
    info.update(
        pilot_true_share=state["true_share"].tolist(), keep_probability_per_predicted_group=state["keep"].tolist()
    )
    return out, info
