"""pass@k with the unbiased estimator of Chen et al. (2021), in product form, and agreement statistics
between a judge and a verifier (Cohen's κ, AUROC)."""

from __future__ import annotations

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """1 − C(n−c, k) / C(n, k) for ``c`` correct of ``n`` samples, as the product ∏_{i=n−c+1}^{n} (1 − k/i)
    (no huge binomials); defined for 1 ≤ k ≤ n."""
    if not 1 <= k <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n, got k={k}, n={n}")
    if not 0 <= c <= n:
        raise ValueError(f"the correct count c={c} must be in 0..n={n}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_rates(passes: list[list[bool]], samples: int) -> dict[str, float]:
    """pass@1 and pass@samples over instances (each a list of per-sample passes): the unbiased estimator per
    instance, then the mean; a k is left out when some instance has fewer than k samples."""
    fewest = min(len(p) for p in passes)
    return {f"pass@{k}": sum(pass_at_k(len(p), sum(p), k) for p in passes) / len(passes)
            for k in sorted({1, samples}) if k <= fewest}  # fmt: skip


def cohen_kappa(a: list[int], b: list[int]) -> float:
    """Cohen's κ between two binary raters (NaN when agreement by chance is 1)."""
    from sklearn.metrics import cohen_kappa_score

    a, b = np.asarray(a, int), np.asarray(b, int)
    if len(a) != len(b) or not len(a):
        raise ValueError("cohen_kappa needs two equally long, non-empty label lists")
    if len(set(a.tolist()) | set(b.tolist())) == 1:  # one label on both sides: agreement by chance is 1
        return float("nan")
    return float(cohen_kappa_score(a, b))


def auroc(scores: list[float], labels: list[int]) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (ties count half; NaN for one class)."""
    from sklearn.metrics import roc_auc_score

    scores, labels = np.asarray(scores, float), np.asarray(labels, int)
    if len(set(labels.tolist())) < 2:
        return float("nan")
    return float(roc_auc_score(labels, scores))
