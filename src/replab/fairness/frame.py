"""``audit_samples``: the audit's statistics over one sample set's attribute readings, shaped like fairlearn's
MetricFrame — pure (no sampling, no I/O, no model), so any generator's samples can be audited from Python.

Two readings of the attribute may be given: ``groups``, an exact reader's hard labels (the pixel-rule
auditor, or a human's), and ``posteriors``, a probe's. The probe's shares are also error-corrected: its
confusion on held-out real images (``held_out``: their true and predicted groups) is inverted, with a joint
bootstrap over the samples and those pairs. ``overall``, ``difference()`` and ``ratio()`` read the best
reading there is: the exact one, else the corrected probe, else the raw probe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from replab.errors import ConfigError
from replab.metrics import fairness as fm

AMBIGUOUS = 0.6  # a probe posterior whose largest entry is below this counts as ambiguous


def distribution_report(groups: np.ndarray, target: np.ndarray, n_boot: int, seed: int,
                        interval: str = "wilson") -> dict:  # fmt: skip
    """Shares with their intervals (``interval``: Wilson, or exact Clopper–Pearson) and the scalar metrics with
    bootstrap intervals, for hard group labels."""
    k, n = len(target), len(groups)
    p = fm.group_distribution(groups, k)
    counts = np.bincount(groups, minlength=k)
    out = {"p": p.tolist(), "interval": interval,
           "share_ci": [fm.proportion_interval(int(c), n, method=interval) for c in counts]}  # fmt: skip
    for name, fn in _scalars(target).items():

        def metric(g: np.ndarray, fn=fn) -> float:
            return fn(fm.group_distribution(g, k))

        out[name] = {"value": metric(groups), "ci": fm.bootstrap_interval(metric, groups, n_boot, seed)}
    out["fairness_discrepancy"]["noise_floor"] = fm.discrepancy_noise_floor(target, n)
    out["fairness_discrepancy"]["debiased"] = fm.debiased_discrepancy(p, target, n)
    out["difference"], out["ratio"] = float(p.max() - p.min()), fm.max_min_ratio(p)
    return out


def _scalars(target: np.ndarray) -> dict:
    return {
        "fairness_discrepancy": lambda p: fm.fairness_discrepancy(p, target),
        "kl_to_target": lambda p: fm.kl_to_target(p, target),
        "normalised_entropy": fm.normalised_entropy,
        "minority_coverage": fm.minority_coverage,
    }


def class_counts(groups: np.ndarray, classes: np.ndarray) -> dict[int, tuple[int, int]]:
    """Per class: (samples in group 0, samples)."""
    classes = np.asarray(classes)
    return {int(c): (int((groups[classes == c] == 0).sum()), int((classes == c).sum())) for c in np.unique(classes)}


def per_class_shares(groups: np.ndarray, classes: np.ndarray, target: np.ndarray, level: float = 0.95,
                     interval: str = "wilson") -> list[dict]:  # fmt: skip
    """Each class's share of group 0 (the minority of the skew presets) with a Bonferroni-adjusted interval over
    the classes (Wilson, or exact Clopper–Pearson); ``flagged`` when it excludes the target's share (a per-class
    skew detector)."""
    counts = class_counts(groups, classes)
    adjusted = 1 - (1 - level) / len(counts)
    rows = []
    for c, (count, n) in counts.items():
        low, high = fm.proportion_interval(count, n, adjusted, interval)
        rows.append({"class": c, "n": n, "count": count, "share": count / n, "ci": [low, high],
                     "flagged": not low <= target[0] <= high})  # fmt: skip
    return rows


def per_class_against_reference(
    groups: np.ndarray, classes: np.ndarray, reference: dict[int, tuple[int, int]], level: float = 0.95
) -> list[dict]:
    """Each class's share of group 0 beside a *reference generator*'s (``reference``: its per-class counts, from
    the same recipe trained on unskewed data, sampled alike): ``flagged`` when the Bonferroni-adjusted Newcombe
    interval of the difference excludes 0. This separates a skew the training data put into a class from the
    pipeline's own per-class distortion (a decoder or guidance that darkens one class for every training set)."""
    mine = class_counts(groups, classes)
    z = float(norm.ppf(1 - (1 - level) / (2 * len(mine))))
    rows = []
    for c, (count, n) in mine.items():
        if reference.get(c, (0, 0))[1] == 0:
            raise ConfigError(f"the reference generator has no sample of class {c}")
        ref_count, ref_n = reference[c]
        low, high = fm.newcombe_difference_interval(count, n, ref_count, ref_n, z)
        rows.append({"class": c, "n": n, "share": count / n, "reference_n": ref_n, "reference_share": ref_count / ref_n,
                     "difference_ci": [low, high], "flagged": not low <= 0 <= high,
                     "direction": "under" if high < 0 else "over" if low > 0 else ""})  # fmt: skip
    return rows


@dataclass
class AuditReport:
    """What ``audit_samples`` found. ``to_dict()`` is the ``artifacts/audit.json`` schema's sample part."""

    names: list[str]
    target: np.ndarray
    n: int
    reading: str  # which reading overall / difference / ratio use: auditor | probe_corrected | probe_hard
    shares: np.ndarray  # that reading's share per group
    auditor: dict | None = None
    probe: dict = field(default_factory=dict)  # probe_hard, probe_soft, ambiguous_share, probe_corrected, accuracy
    by_group: list[dict] = field(default_factory=list)
    by_class: list[dict] | None = None

    @property
    def overall(self) -> dict:
        """The scalar metrics of ``reading``'s shares (their intervals are in ``auditor`` / ``probe``)."""
        return {"reading": self.reading, **{k: fn(self.shares) for k, fn in _scalars(self.target).items()}}

    def difference(self) -> float:
        """The largest minus the smallest group share."""
        return float(self.shares.max() - self.shares.min())

    def max_over_min(self) -> float:
        """The largest over the smallest group share (≥ 1, as the audit's ``ratio``); fairlearn's ``ratio()`` is
        its inverse, the smallest over the largest."""
        return fm.max_min_ratio(self.shares)

    def to_dict(self) -> dict:
        out = {"overall": self.overall, "by_group": self.by_group, **self.probe}
        if self.auditor is not None:
            out["auditor"] = self.auditor
        if self.by_class is not None:
            out["by_class"] = self.by_class
        return out


def audit_samples(
    target: Sequence[float] | np.ndarray,
    *,
    groups: np.ndarray | None = None,
    posteriors: np.ndarray | None = None,
    held_out: tuple[np.ndarray, np.ndarray] | None = None,
    classes: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    interval: str = "wilson",
) -> AuditReport:
    """Audit one sample set against ``target`` (K shares). ``groups``: exact group labels ``[N]``; ``posteriors``:
    a probe's ``[N, K]``; ``held_out``: that probe's (true, predicted) groups on held-out real images, for the
    error-corrected interval; ``classes``: each sample's class, for the per-class table (of group 0's share);
    ``interval``: how a share's interval is made, ``wilson`` or ``exact`` (Clopper–Pearson)."""
    if interval not in fm.INTERVALS:
        raise ConfigError(f"interval={interval}: expected one of {', '.join(fm.INTERVALS)}")
    target = np.asarray(target, float)
    k = len(target)
    if groups is None and posteriors is None:
        raise ConfigError("audit_samples: give the samples' groups, a probe's posteriors, or both")
    n = len(groups) if groups is not None else len(posteriors)
    if groups is not None and posteriors is not None and len(posteriors) != n:
        raise ConfigError(f"audit_samples: {n} groups but {len(posteriors)} posteriors")
    names = list(names) if names is not None else [str(g) for g in range(k)]
    auditor = distribution_report(np.asarray(groups), target, n_boot, seed, interval) if groups is not None else None
    probe = _probe_readings(posteriors, held_out, target, n_boot, seed, interval) if posteriors is not None else {}
    reading, shares = _best_reading(auditor, probe)
    predicted = np.asarray(posteriors).argmax(1) if posteriors is not None else None
    if groups is not None and predicted is not None:
        probe["probe_accuracy_on_samples"] = float((predicted == groups).mean())
    rows = [{"group": name, "target": float(target[g]), "share": float(shares[g])} for g, name in enumerate(names)]
    if groups is not None:
        for g, row in enumerate(rows):
            row["n"] = int((groups == g).sum())
            if predicted is not None:
                hit = int(((predicted == g) & (groups == g)).sum())
                row["precision"] = hit / max(1, int((predicted == g).sum()))
                row["recall"] = hit / max(1, row["n"])
    exact = groups if groups is not None else predicted
    by_class = per_class_shares(exact, np.asarray(classes), target, interval=interval) if classes is not None else None
    return AuditReport(names, target, n, reading, shares, auditor, probe, rows, by_class)


def _probe_readings(posteriors, held_out, target: np.ndarray, n_boot: int, seed: int, interval: str) -> dict:
    post = np.asarray(posteriors)
    k = len(target)
    if post.ndim != 2 or post.shape[1] != k:
        raise ConfigError(f"audit_samples: posteriors of shape {post.shape}, expected [N, {k}]")
    predicted = post.argmax(1)
    out = {
        "probe_hard": distribution_report(predicted, target, n_boot, seed, interval),
        "probe_soft": fm.group_distribution(post, k).tolist(),
        "ambiguous_share": float((post.max(1) < AMBIGUOUS).mean()),
    }
    if held_out is not None:
        try:
            corrected = fm.corrected_interval(predicted, *held_out, k=k, n_boot=n_boot, seed=seed)
            out["probe_corrected"] = {key: corrected[key].tolist() for key in ("estimate", "low", "high")}
        except fm.ProbeTooWeak as exc:
            out["probe_corrected"] = {"refused": str(exc)}
    return out


def _best_reading(auditor: dict | None, probe: dict) -> tuple[str, np.ndarray]:
    if auditor is not None:
        return "auditor", np.array(auditor["p"])
    if "estimate" in probe.get("probe_corrected", {}):
        return "probe_corrected", np.array(probe["probe_corrected"]["estimate"])
    return "probe_hard", np.array(probe["probe_hard"]["p"])
