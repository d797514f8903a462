"""``replab fairness tradeoff``: fairness discrepancy against sample quality, over the corrections' strengths.

Every point is one audit (graded by the auditor): CFG scales as the uncorrected baseline (with the bias
amplification p_gen / p_train of the minority), probe guidance over its scale, confusion-calibrated
resampling over its strength (the target mixed with the training shares), and density-ratio resampling.
The plot marks the Pareto front (lower discrepancy and lower FD-fmnist against the balanced test split).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from replab.core.plots import pyplot, save_figure
from replab.core.run import Run
from replab.diffusion.sample import load_diffusion, run_guidance
from replab.fairness.audit import audit, training_shares
from replab.fairness.auditor import read_target
from replab.fairness.probe import load_probe


def _point(kind: str, value: float, report: dict, folder: Path) -> dict:
    a, groups = report["auditor"], report["groups"]
    footprint = json.loads((folder / "footprint.json").read_text()) if (folder / "footprint.json").exists() else {}
    minority = int(np.argmin(report["training_shares"]))
    return {
        "kind": kind, "value": value, "fairness_discrepancy": a["fairness_discrepancy"]["value"],
        "ci": a["fairness_discrepancy"]["ci"], "fd_fmnist": report["fd_fmnist_vs_test"],
        "minority": groups[minority], "minority_share": a["p"][minority],
        "amplification": report["amplification"][minority],
        "draws_per_kept": report.get("mitigation", {}).get("draws_per_kept", 1.0),
        "hit_rate": report.get("mitigation", {}).get("hit_rate"),
        "energy_j_per_1000": footprint.get("energy_j", {}).get("total", float("nan")) / report["n"] * 1000,
    }  # fmt: skip


def pareto_front(points: list[dict]) -> list[int]:
    """Indices of the points no other point beats on both fairness discrepancy and FD-fmnist."""

    def beats(q: dict, p: dict) -> bool:
        no_worse = q["fairness_discrepancy"] <= p["fairness_discrepancy"] and q["fd_fmnist"] <= p["fd_fmnist"]
        return no_worse and (q["fairness_discrepancy"], q["fd_fmnist"]) != (p["fairness_discrepancy"], p["fd_fmnist"])

    return [i for i, p in enumerate(points) if not any(beats(q, p) for q in points)]


def tradeoff(
    run_folder: str | Path, probe_folder: str | Path, out: str | Path, n: int = 1000, target: str = "",
    cfgs: tuple[float, ...] = (1.0, 3.0, 5.0, 7.0), guide_probe: str | Path | None = None,
    guide_scales: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0), strengths: tuple[float, ...] = (0.5, 1.0),
    ratio: bool = True, seed: int = 0,
) -> dict:  # fmt: skip
    out = Path(out)
    base = run_guidance(run_folder)
    _, config, _ = load_diffusion(run_folder)
    info = load_probe(probe_folder)[1]
    goal = read_target(target, info["spec"]["attribute"], len(info["groups"]))
    train = training_shares(config, info["spec"]["attribute"], len(goal), run_folder)
    points = []
    with Run(
        out, {"run": str(run_folder), "probe": str(probe_folder), "n": n}, kind="fairness-tradeoff", mutable=("*",)
    ):
        for cfg in cfgs:
            folder = out / f"cfg-{cfg:g}"
            report = audit(run_folder, probe_folder, n, target, seed, dataclasses.replace(base, cfg_scale=cfg), folder)
            points.append(_point("cfg", cfg, report, folder))
        for scale in guide_scales if guide_probe else ():
            folder = out / f"guidance-{scale:g}"
            report = audit(run_folder, probe_folder, n, target, seed, base, folder, fair="guidance",
                           guide_probe=guide_probe, guide_scale=scale)  # fmt: skip
            points.append(_point("guidance", scale, report, folder))
        for strength in strengths:
            folder = out / f"resample-{strength:g}"
            mixed = (1 - strength) * train + strength * goal
            (folder.parent / f"target-{strength:g}.json").write_text(json.dumps(mixed.tolist()))
            report = audit(run_folder, probe_folder, n, str(folder.parent / f"target-{strength:g}.json"), seed, base,
                           folder, fair="resample")  # fmt: skip
            points.append(_point("resample", strength, report, folder))
        if ratio:
            report = audit(run_folder, probe_folder, n, target, seed, base, out / "ratio", fair="ratio")
            points.append(_point("ratio", 1.0, report, out / "ratio"))
    result = {
        "points": points,
        "pareto": pareto_front(points),
        "target": goal.tolist(),
        "training_shares": train.tolist(),
    }
    (out / "tradeoff.json").write_text(json.dumps(result, indent=1))
    plot_tradeoff(result, out / "tradeoff.png")
    return result


def plot_tradeoff(result: dict, path: Path) -> Path:
    plt = pyplot()

    points, front = result["points"], result["pareto"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for kind, marker in (("cfg", "o"), ("guidance", "s"), ("resample", "^"), ("ratio", "D")):
        mine = [p for p in points if p["kind"] == kind]
        if not mine:
            continue
        x = [p["fd_fmnist"] for p in mine]
        y = [p["fairness_discrepancy"] for p in mine]
        err = np.array(
            [[p["fairness_discrepancy"] - p["ci"][0], p["ci"][1] - p["fairness_discrepancy"]] for p in mine]
        ).T
        ax.errorbar(x, y, yerr=err, fmt=marker, capsize=3, label=kind)
        for p in mine:
            ax.annotate(f"{p['value']:g}", (p["fd_fmnist"], p["fairness_discrepancy"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")  # fmt: skip
    best = sorted((points[i] for i in front), key=lambda p: p["fd_fmnist"])
    ax.plot(
        [p["fd_fmnist"] for p in best], [p["fairness_discrepancy"] for p in best], "k--", lw=0.8, label="Pareto front"
    )
    ax.set_xlabel("FD-fmnist against the test split (lower is better)")
    ax.set_ylabel("fairness discrepancy (auditor, 95 % CI)")
    ax.legend(fontsize=7)
    return save_figure(fig, path)
