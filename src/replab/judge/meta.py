"""Meta-evaluation: how far each metric agrees with human scores (Spearman, Kendall, Pearson),
with percentile bootstrap confidence intervals over items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats

CORRELATIONS = {
    "spearman": lambda a, b: stats.spearmanr(a, b).statistic,
    "kendall": lambda a, b: stats.kendalltau(a, b).statistic,
    "pearson": lambda a, b: stats.pearsonr(a, b).statistic,
}


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


def meta_table(metrics: dict[str, np.ndarray], human: np.ndarray, n_boot: int = 1000) -> dict[str, dict]:
    return {name: correlate(values, human, n_boot) for name, values in metrics.items()}


def format_table(table: dict[str, dict]) -> str:
    lines = [f"{'metric':<14}" + "".join(f"{c:>24}" for c in CORRELATIONS), "-" * (14 + 24 * len(CORRELATIONS))]
    for name, row in table.items():
        cells = "".join(f"{row[c]['r']:>8.3f} [{row[c]['low']:>6.3f},{row[c]['high']:>6.3f}]" for c in CORRELATIONS)
        lines.append(f"{name:<14}{cells}")
    n = next(iter(table.values()))["n"] if table else 0
    lines.append(f"n = {n} (item, system) pairs; 95% percentile bootstrap intervals")
    return "\n".join(lines)


def plot_table(table: dict[str, dict], path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(table)
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 2, 3.5))
    width = 0.8 / len(CORRELATIONS)
    for k, corr in enumerate(CORRELATIONS):
        values = [table[n][corr]["r"] for n in names]
        errors = [[v - table[n][corr]["low"] for n, v in zip(names, values)],
                  [table[n][corr]["high"] - v for n, v in zip(names, values)]]  # fmt: skip
        ax.bar(np.arange(len(names)) + k * width, values, width, yerr=errors, capsize=3, label=corr)
    ax.set_xticks(np.arange(len(names)) + width, names)
    ax.set_ylabel("correlation with human scores")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
