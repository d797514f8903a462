"""Rank and linear correlations (Spearman, Kendall, Pearson), with percentile bootstrap intervals over
items — for the judge's meta-evaluation and LCO-EMB's generation–representation scaling."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

CORRELATIONS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "spearman": lambda a, b: stats.spearmanr(a, b).statistic,
    "kendall": lambda a, b: stats.kendalltau(a, b).statistic,
    "pearson": lambda a, b: stats.pearsonr(a, b).statistic,
}


def spearman(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Spearman's ρ and its two-sided p-value."""
    result = stats.spearmanr(a, b)
    return float(result.statistic), float(result.pvalue)


def correlate(metric: np.ndarray, human: np.ndarray, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """Each correlation with its bootstrap CI; NaN where a resample has no variance."""
    metric, human = np.asarray(metric, float), np.asarray(human, float)
    if len(metric) != len(human) or len(metric) < 3:
        raise ValueError(f"need at least 3 paired scores, got {len(metric)} and {len(human)}")
    rng = np.random.default_rng(seed)
    out = {}
    for name, fn in CORRELATIONS.items():
        point = float(fn(metric, human)) if np.std(metric) > 0 and np.std(human) > 0 else float("nan")
        boots = []
        for _ in range(n_boot):
            index = rng.integers(0, len(metric), len(metric))
            a, b = metric[index], human[index]
            if np.std(a) > 0 and np.std(b) > 0:
                boots.append(fn(a, b))
        low, high = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2]) if boots else (np.nan, np.nan)
        out[name] = {"r": point, "low": float(low), "high": float(high)}
    out["n"] = int(len(metric))
    return out
