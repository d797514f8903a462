"""``replab fairness tradeoff``: fairness discrepancy against sample quality, over the corrections' strengths.

Every point is one audit (graded by the auditor): CFG scales as the uncorrected baseline (with the bias
amplification p_gen / p_train of the minority), probe guidance over its scale, confusion-calibrated
resampling over its strength (the target mixed with the training shares), and density-ratio resampling.
The plot marks the Pareto front (lower discrepancy and lower FD-fmnist against the balanced test split).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from replab.core.plots import pyplot, save_figure
from replab.core.run import Run
from replab.diffusion.sample import load_diffusion, run_guidance
from replab.fairness.audit import AuditConfig, audit
from replab.fairness.auditor import read_target
from replab.fairness.probe import load_probe
from replab.fairness.real_images import training_shares


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


@dataclass(frozen=True)
class TradeoffConfig:
    """The sweep: ``n`` samples per point against ``target``; CFG scales (the uncorrected baseline), probe
    guidance scales (with a noise-aware guide probe), confusion-calibrated resampling strengths (the target
    mixed with the training shares) and, with ``ratio``, the validated density-ratio correction."""

    n: int = 1000
    target: str = ""
    seed: int = 0
    cfgs: tuple[float, ...] = (1.0, 3.0, 5.0, 7.0)
    guide_scales: tuple[float, ...] = (2.0, 4.0, 8.0, 16.0)
    strengths: tuple[float, ...] = (0.5, 1.0)
    ratio: bool = True


def tradeoff(
    run_folder: str | Path, probe_folder: str | Path, out: str | Path, sweep: TradeoffConfig = TradeoffConfig(),
    guide_probe: str | Path | None = None,
) -> dict:  # fmt: skip
    out = Path(out)
    base = run_guidance(run_folder)
    _, config, _ = load_diffusion(run_folder)
    info = load_probe(probe_folder)[1]
    goal = read_target(sweep.target, info["spec"]["attribute"], len(info["groups"]))
    train = training_shares(config, info["spec"]["attribute"], len(goal), run_folder)
    if guide_probe:
        load_probe(guide_probe)  # checked before the Run exists
    job = AuditConfig(n=sweep.n, target=sweep.target, seed=sweep.seed)
    points = []

    def point(kind: str, value: float, name: str, settings: AuditConfig, guidance=base) -> None:
        report = audit(run_folder, probe_folder, settings, guidance, out / name)
        points.append(_point(kind, value, report, out / name))

    with Run(out, {"run": str(run_folder), "probe": str(probe_folder), **asdict(sweep)}, kind="fairness-tradeoff"):
        for cfg in sweep.cfgs:
            point("cfg", cfg, f"cfg-{cfg:g}", job, dataclasses.replace(base, cfg_scale=cfg))
        for scale in sweep.guide_scales if guide_probe else ():
            guided = dataclasses.replace(job, fair="guidance", guide_probe=str(guide_probe), guide_scale=scale)
            point("guidance", scale, f"guidance-{scale:g}", guided)
        for strength in sweep.strengths:
            mixed = ((1 - strength) * train + strength * goal).tolist()
            point("resample", strength, f"resample-{strength:g}",
                  dataclasses.replace(job, target=json.dumps(mixed), fair="resample"))  # fmt: skip
        if sweep.ratio:
            point("ratio", 1.0, "ratio", dataclasses.replace(job, fair="ratio"))
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
