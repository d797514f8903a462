"""Rank and linear correlations (Spearman, Kendall, Pearson), with BCa bootstrap intervals over paired
items — for the judge's meta-evaluation and LCO-EMB's generation–representation scaling."""

from __future__ import annotations

import warnings
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
    """Each correlation with its BCa bootstrap interval over paired items (``scipy.stats.bootstrap``), which
    covers better than the percentile interval at the small n of meta-evaluation. A resample whose metric or
    human scores are constant has no correlation: such resamples are counted (``degenerate``); where BCa is
    undefined (any such resample, or every resample equal) the percentile interval of the others is given,
    and ``method`` says so. NaN throughout where the full data has no variance."""
    metric, human = np.asarray(metric, float), np.asarray(human, float)
    if len(metric) != len(human) or len(metric) < 3:
        raise ValueError(f"need at least 3 paired scores, got {len(metric)} and {len(human)}")
    out: dict = {}
    for name, fn in CORRELATIONS.items():

        def statistic(a: np.ndarray, b: np.ndarray, fn=fn) -> float:
            return float(fn(a, b)) if np.std(a) > 0 and np.std(b) > 0 else float("nan")

        with warnings.catch_warnings():  # what scipy warns of is reported below, in the result
            warnings.simplefilter("ignore")
            result = stats.bootstrap(
                (metric, human), statistic, paired=True, vectorized=False, n_resamples=n_boot,
                confidence_level=level, method="BCa", random_state=np.random.default_rng(seed),
            )  # fmt: skip
        boots = np.asarray(result.bootstrap_distribution, float)
        low, high = (float(v) for v in result.confidence_interval)
        method = "BCa"
        if not (np.isfinite(low) and np.isfinite(high)):
            kept = boots[np.isfinite(boots)]
            low, high = (float(v) for v in np.quantile(kept, [(1 - level) / 2, (1 + level) / 2])) if len(kept) else (
                float("nan"), float("nan"))  # fmt: skip
            method = "percentile (BCa undefined)"
        out[name] = {"r": statistic(metric, human), "low": low, "high": high, "method": method,
                     "degenerate": int(np.sum(~np.isfinite(boots)))}  # fmt: skip
    out["n"] = int(len(metric))
    return out
