"""Distribution-fairness metrics over K groups, pure functions of counts, posteriors and confusion matrices.

Vocabulary after fairlearn's MetricFrame (overall / by_group / difference / ratio); "fairness discrepancy"
is written in full (``FD`` stays the Fréchet distance).

- ``group_distribution``: p̂ from hard predictions (counts) or soft posteriors (mean), absent groups zero-filled.
- ``fairness_discrepancy``: ‖p̂ − target‖₂ (fairgen's measure, without dropping absent groups: a generator that
  never makes 3 of 4 groups scores 0.866 against uniform, not 0.75).
- ``discrepancy_noise_floor`` / ``debiased_discrepancy``: what multinomial sampling alone adds to ‖p̂ − target‖,
  and an estimate of ‖p − target‖ with that bias removed.
- ``kl_to_target``, ``normalised_entropy``, ``minority_coverage`` (min_k p_k·K), ``max_min_ratio``.
- ``wilson_interval`` for one group's share; ``bootstrap_interval`` for any scalar of the predictions.
- Error correction for the classifier: ``rogan_gladen`` (binary, CLEAM's base case) and
  ``invert_confusion`` (K groups: least squares on the simplex), with ``corrected_interval``: a joint
  bootstrap over the generated samples *and* the classifier's validation set, so that the classifier's
  own uncertainty enters the interval. ``ProbeTooWeak`` when the confusion matrix cannot be inverted.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import stats

from replab.errors import ReplabError

Z95 = 1.959963984540054


class ProbeTooWeak(ReplabError, ValueError):
    """The classifier's confusion matrix is (near) singular: its errors cannot be undone."""


def group_distribution(predictions: np.ndarray, k: int) -> np.ndarray:
    """p̂ over ``k`` groups: from integer predictions ``[N]`` (hard counts) or posteriors ``[N, k]`` (mean)."""
    predictions = np.asarray(predictions)
    if predictions.ndim == 2:
        if predictions.shape[1] != k:
            raise ValueError(f"posteriors have {predictions.shape[1]} columns, expected k={k}")
        return predictions.mean(0)
    if len(predictions) == 0:
        raise ValueError("no predictions")
    if predictions.min() < 0 or predictions.max() >= k:
        raise ValueError(f"predictions must be group indices in 0..{k - 1}")
    return np.bincount(predictions.astype(int), minlength=k) / len(predictions)


def check_target(target: np.ndarray, k: int, tol: float = 1e-6) -> np.ndarray:
    """A target distribution: K entries, each > 0, summing to 1 within ``tol``; a ValueError says which."""
    target = np.asarray(target, dtype=float)
    if target.shape != (k,):
        raise ValueError(f"the target has {target.size} entries, the attribute has K={k} groups")
    if abs(target.sum() - 1) > tol:
        raise ValueError(f"the target sums to {target.sum():.8f}, not 1 (tolerance {tol})")
    if (target <= 0).any():
        raise ValueError(f"the target gives group {int(np.argmin(target))} no mass: every group needs a share > 0")
    return target


def fairness_discrepancy(p: np.ndarray, target: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(p, float) - np.asarray(target, float)))


def discrepancy_noise_floor(target: np.ndarray, n: int) -> float:
    """Root-mean-square ‖p̂ − target‖₂ of ``n`` samples drawn exactly at ``target``: sqrt(Σ t_k(1 − t_k) / n)."""
    target = np.asarray(target, float)
    return float(math.sqrt((target * (1 - target)).sum() / n))


def debiased_discrepancy(p_hat: np.ndarray, target: np.ndarray, n: int) -> float:
    """sqrt of the unbiased estimate of ‖p − target‖²: ‖p̂ − target‖² − Σ p̂_k(1 − p̂_k)/(n − 1), floored at 0."""
    p_hat = np.asarray(p_hat, float)
    squared = fairness_discrepancy(p_hat, target) ** 2 - (p_hat * (1 - p_hat)).sum() / max(1, n - 1)
    return float(math.sqrt(max(0.0, squared)))


def kl_to_target(p: np.ndarray, target: np.ndarray) -> float:
    """KL(p ‖ target) in nats; groups with p_k = 0 contribute 0."""
    p, target = np.asarray(p, float), np.asarray(target, float)
    mask = p > 0
    return float((p[mask] * np.log(p[mask] / target[mask])).sum())


def normalised_entropy(p: np.ndarray) -> float:
    """H(p) / log K: 1 for uniform, 0 for one group only."""
    p = np.asarray(p, float)
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum() / math.log(len(p)))


def minority_coverage(p: np.ndarray) -> float:
    """min_k p_k · K: 1 for uniform, 0 when a group is absent."""
    p = np.asarray(p, float)
    return float(p.min() * len(p))


def max_min_ratio(p: np.ndarray) -> float:
    p = np.asarray(p, float)
    return float("inf") if p.min() == 0 else float(p.max() / p.min())


INTERVALS = ("wilson", "exact")  # Wilson score; Clopper–Pearson ("exact": never below its level, wider)


def proportion_interval(count: int, n: int, level: float = 0.95, method: str = "wilson") -> tuple[float, float]:
    """Interval of a proportion ``count / n`` at ``level`` through ``scipy.stats.binomtest``: ``wilson`` (correct
    near 0 and 1, unlike the normal one) or ``exact`` (Clopper–Pearson, for small groups that must not
    undercover)."""
    if n <= 0:
        raise ValueError("n must be positive")
    if method not in INTERVALS:
        raise ValueError(f"interval {method!r}: expected one of {', '.join(INTERVALS)}")
    ci = stats.binomtest(int(count), int(n)).proportion_ci(confidence_level=level, method=method)
    return float(ci.low), float(ci.high)


def wilson_interval(count: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``count / n`` at the normal quantile ``z``."""
    return proportion_interval(count, n, level=float(2 * stats.norm.cdf(z) - 1), method="wilson")


def newcombe_difference_interval(count1: int, n1: int, count2: int, n2: int, z: float = Z95) -> tuple[float, float]:
    """Newcombe's hybrid score interval (1998, method 10) of ``count1/n1 − count2/n2``, from the two Wilson
    intervals: keeps its coverage near 0 and 1 and with small counts, where the Wald interval does not."""
    p1, p2 = count1 / n1, count2 / n2
    low1, high1 = wilson_interval(count1, n1, z)
    low2, high2 = wilson_interval(count2, n2, z)
    d = p1 - p2
    return d - math.hypot(p1 - low1, high2 - p2), d + math.hypot(high1 - p1, p2 - low2)


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float],
    samples: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(samples)`` (resampling rows)."""
    rng = np.random.default_rng(seed)
    samples = np.asarray(samples)
    values = [statistic(samples[rng.integers(0, len(samples), len(samples))]) for _ in range(n_boot)]
    low, high = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(low), float(high)


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, k: int) -> np.ndarray:
    """Row-stochastic C[i, j] = P(predicted j | true i); a group absent from ``true`` is an error."""
    counts = np.bincount(np.asarray(true, int) * k + np.asarray(predicted, int), minlength=k * k).reshape(k, k)
    rows = counts.sum(1, keepdims=True)
    if (rows == 0).any():
        raise ProbeTooWeak(f"the validation set has no item of group {int(np.argmin(rows))}: its errors are unknown")
    return counts / rows


def rogan_gladen(p_observed: float, sensitivity: float, specificity: float, min_youden: float = 0.2) -> float:
    """Binary prevalence corrected for classifier error, (p̂ + spec − 1)/(sens + spec − 1), clipped to [0, 1]."""
    youden = sensitivity + specificity - 1
    if youden < min_youden:
        raise ProbeTooWeak(f"sensitivity + specificity − 1 = {youden:.3f} < {min_youden}: the classifier is too weak")
    return float(min(1.0, max(0.0, (p_observed + specificity - 1) / youden)))


def project_to_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection onto {p ≥ 0, Σp = 1} (sort-based, exact)."""
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - 1
    index = np.arange(1, len(v) + 1)
    rho = index[u - css / index > 0][-1]
    return np.maximum(v - css[rho - 1] / rho, 0)


def invert_confusion(p_observed: np.ndarray, confusion: np.ndarray, min_singular: float = 0.05) -> np.ndarray:
    """The true distribution p with p_observed = Cᵀ p, by least squares constrained to the simplex.

    Refuses (``ProbeTooWeak``) when C's smallest singular value is below ``min_singular``: the inversion would
    amplify sampling noise without bound."""
    confusion = np.asarray(confusion, float)
    smallest = np.linalg.svd(confusion, compute_uv=False).min()
    if smallest < min_singular:
        raise ProbeTooWeak(
            f"the confusion matrix is near singular (smallest singular value {smallest:.3g} < {min_singular}): "
            "the classifier cannot tell some groups apart"
        )
    a, b = confusion.T, np.asarray(p_observed, float)
    p = project_to_simplex(np.linalg.solve(a, b))
    step = 1.0 / np.linalg.norm(a, 2) ** 2
    for _ in range(500):  # projected gradient on ½‖A p − b‖²: exact when the unconstrained solution is inside
        p_next = project_to_simplex(p - step * a.T @ (a @ p - b))
        if np.abs(p_next - p).max() < 1e-12:
            break
        p = p_next
    return p


def corrected_interval(
    predicted: np.ndarray,
    val_true: np.ndarray,
    val_predicted: np.ndarray,
    k: int,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, np.ndarray]:
    """The error-corrected p and its percentile interval per group, from a joint bootstrap of the generated
    samples' predictions and the classifier's validation pairs (true, predicted)."""
    predicted, val_true, val_predicted = (np.asarray(a, int) for a in (predicted, val_true, val_predicted))
    estimate = invert_confusion(group_distribution(predicted, k), confusion_matrix(val_true, val_predicted, k))
    rng = np.random.default_rng(seed)
    draws, refused = [], 0
    for _ in range(n_boot):
        gen = predicted[rng.integers(0, len(predicted), len(predicted))]
        pick = rng.integers(0, len(val_true), len(val_true))
        try:
            c = confusion_matrix(val_true[pick], val_predicted[pick], k)
            draws.append(invert_confusion(group_distribution(gen, k), c))
        except ProbeTooWeak:
            refused += 1
    if refused > n_boot // 10:
        raise ProbeTooWeak(f"{refused} of {n_boot} bootstrap confusion matrices could not be inverted")
    draws = np.array(draws)
    low, high = np.quantile(draws, [(1 - level) / 2, 1 - (1 - level) / 2], axis=0)
    return {"estimate": estimate, "low": low, "high": high, "draws": draws}
