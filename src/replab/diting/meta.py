"""Meta-evaluation tables: how far each metric agrees with human scores (Spearman, Kendall, Pearson), with
percentile bootstrap confidence intervals over items (``replab.metrics.correlation``)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from replab.core.progress import track
from replab.errors import DataError
from replab.harness.runner import read_results
from replab.metrics.correlation import CORRELATIONS, correlate


def meta_table(metrics: dict[str, np.ndarray], human: np.ndarray, n_boot: int = 1000) -> dict[str, dict]:
    return {name: correlate(values, human, n_boot) for name, values in metrics.items()}


def format_table(table: dict[str, dict], title: str = "") -> str:
    """One row per metric with its own n (the pairs that metric and the human scores both have)."""
    head = f"{'metric':<18}{'n':>5}" + "".join(f"{c:>24}" for c in CORRELATIONS)
    lines = ([title] if title else []) + [head, "-" * len(head)]
    for name, row in table.items():
        cells = "".join(f"{row[c]['r']:>8.3f} [{row[c]['low']:>6.3f},{row[c]['high']:>6.3f}]" for c in CORRELATIONS)
        lines.append(f"{name:<18}{row['n']:>5}{cells}")
    lines.append("n = (item, system) pairs with both the metric and a human score; 95% percentile bootstrap intervals")
    return "\n".join(lines)


def plot_table(table: dict[str, dict], path: str | Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(table)
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 2, 3.8))
    width = 0.8 / len(CORRELATIONS)
    for k, corr in enumerate(CORRELATIONS):
        values = [table[n][corr]["r"] for n in names]
        errors = [[v - table[n][corr]["low"] for n, v in zip(names, values)],
                  [table[n][corr]["high"] - v for n, v in zip(names, values)]]  # fmt: skip
        ax.bar(np.arange(len(names)) + k * width, values, width, yerr=errors, capsize=3, label=corr)
    ax.set_xticks(np.arange(len(names)) + width, [f"{n}\nn = {table[n]['n']}" for n in names])
    ax.set_ylabel("correlation with human scores")
    ax.set_title(title or "each metric against the human total (S + G1 + G2)\n95% bootstrap CIs", fontsize=9)
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def collect_scores(run: Path) -> dict[str, dict[str, Any]]:
    """Every scored (item, system) pair of a run, merged over its metric sets (``scores/*/results.jsonl``)."""
    merged: dict[str, dict[str, Any]] = {}
    for path in sorted((run / "scores").glob("*/results.jsonl")):
        for key, record in read_results(path).items():
            entry = merged.setdefault(key, {"scores": {}, "missing": {}, "errors": []})
            entry["scores"].update(record.get("scores") or {})
            entry["missing"].update(record.get("missing") or {})
            if record.get("error"):
                entry["errors"].append(f"{path.parent.name}: {record['error'].split(':')[0]}")
    return merged


def _numeric_metrics(scores: dict[str, dict[str, Any]]) -> list[str]:
    names = {k for entry in scores.values() for k, v in entry["scores"].items() if isinstance(v, int | float)}
    return sorted(names, key=lambda n: (n.split("_")[0] not in CORRELATION_ORDER, n))


CORRELATION_ORDER = ("bleu", "chrf", "comet", "single", "agenteval")


def _why_missing(entry: dict[str, Any] | None, metric: str) -> str:
    if entry is None:
        return "not scored"
    if metric in entry["missing"]:
        return entry["missing"][metric]
    return "; ".join(entry["errors"]) or "not scored by this metric set"


def meta_report(run: Path, items: list, n_boot: int = 1000) -> tuple[str, Path, dict[str, dict]]:
    """Per-metric correlations (each on every pair it has, its own n), the missing pairs counted by reason,
    and the comparison on the pairs every metric has as a separate table; writes meta.json and meta.png.
    A pair is an (item, system) with a human score and a candidate (or a translate run's output)."""
    scores = collect_scores(run)
    humans = {f"{item.id}::{system}": sum(values.get(k, 0.0) for k in ("S", "G1", "G2"))
              for item in items for system, values in item.human.items()
              if system in item.candidates or f"{item.id}::{system}" in scores}  # fmt: skip
    table, missing, keys_of = {}, {}, {}
    for metric in track(_numeric_metrics(scores), "meta (bootstrap)", unit="metric"):
        keys = [k for k in humans if k in scores and isinstance(scores[k]["scores"].get(metric), int | float)]
        reasons = Counter(_why_missing(scores.get(k), metric) for k in humans if k not in set(keys))
        if reasons:
            missing[metric] = dict(reasons)
        if len(keys) >= 3:
            values = np.array([scores[k]["scores"][metric] for k in keys], float)
            table[metric], keys_of[metric] = correlate(values, np.array([humans[k] for k in keys]), n_boot), keys
    if not table:
        raise DataError(f"{run}: no metric has 3 or more scored pairs with human scores ({len(humans)} pairs have "
                        f"human scores; missing: {missing or 'nothing was scored'})")  # fmt: skip
    text = format_table(table, "each metric on every pair it scored:")
    for metric, reasons in missing.items():
        text += f"\n  {metric}: {sum(reasons.values())} pair(s) missing — " + ", ".join(
            f"{n} {why}" for why, n in reasons.items())  # fmt: skip
    common = sorted(set.intersection(*(set(k) for k in keys_of.values())))
    common_table = {}
    if len(table) > 1 and len(common) >= 3 and any(row["n"] != len(common) for row in table.values()):
        human = np.array([humans[k] for k in common])
        common_table = {m: correlate(np.array([scores[k]["scores"][m] for k in common], float), human, n_boot)
                        for m in table}  # fmt: skip
        text += "\n\n" + format_table(common_table, f"common subset: the {len(common)} pairs every metric scored:")
    png = plot_table(table, run / "meta.png", title="each metric against the human total (S + G1 + G2)\n"
                     "on every pair it scored (n under each name); 95% bootstrap CIs")  # fmt: skip
    (run / "meta.json").write_text(json.dumps({**table, "_common_subset": common_table, "_missing": missing}, indent=1))
    return text, png, table
