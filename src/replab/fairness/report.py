"""What an audit writes for a person: the Markdown table, the bar chart (titled with n, target and
correction) and a sample grid with each sample framed in the colour of its auditor group."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from replab.core.images import grid_canvas
from replab.core.plots import pyplot, save_figure

COLOURS = ("#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")


def describe(report: dict) -> str:
    """One line: what was audited, against what, corrected how."""
    target = ", ".join(f"{g} {t:.2f}" for g, t in zip(report["groups"], report["target"]))
    fair = report.get("fair", "none")
    return f"{report['attribute']}, n = {report['n']}, target {target}, correction {fair}"


def format_report(report: dict) -> str:
    """The audit as Markdown: one row per group, then the scalar metrics."""
    return "\n".join([_heading(report), "", *_group_table(report), "", *_summary(report), *_class_table(report)]) + "\n"


def _heading(report: dict) -> str:
    fair, cost = report.get("fair", "none"), report.get("mitigation", {}).get("draws_per_kept")
    power, model = report.get("mitigation", {}).get("power_used"), report.get("mitigation", {}).get("model")
    how = (
        f", sampled with --fair {fair}"
        + (f" ({cost:.2f} draws per kept sample)" if cost else "")
        + (f", {model} ratio at power {power:.2f}" if power is not None else "")
        if fair != "none"
        else ""
    )
    return f"# Fairness audit: {report['attribute']} over {report['n']} samples{how}"


INTERVAL_NAMES = {"wilson": "Wilson", "exact": "Clopper–Pearson"}


def _interval_name(report: dict) -> str:
    reading = report.get("auditor") or report.get("probe_hard") or {}
    return INTERVAL_NAMES.get(reading.get("interval", "wilson"), "Wilson")


def _group_table(report: dict) -> list[str]:
    a, corrected = report.get("auditor"), report.get("probe_corrected", {"refused": "no held-out pairs"})
    lines = [f"| group | target | auditor share ({_interval_name(report)} 95 %) | probe (hard) | probe (soft) | "
             "probe corrected (95 %) | precision | recall | FD-fmnist, matched N |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for g, name in enumerate(report["groups"]):
        row = report["by_group"][g]
        cor = "refused" if "refused" in corrected else (
            f"{corrected['estimate'][g]:.3f} [{corrected['low'][g]:.3f}, {corrected['high'][g]:.3f}]")  # fmt: skip
        fd = f"{row['fd_fmnist_matched']:.2f}" if "fd_fmnist_matched" in row else "–"
        share = f"{a['p'][g]:.3f} [{a['share_ci'][g][0]:.3f}, {a['share_ci'][g][1]:.3f}]" if a else "– (no auditor)"
        quality = " | ".join(f"{row[k]:.3f}" if k in row else "–" for k in ("precision", "recall"))
        lines.append(f"| {name} | {report['target'][g]:.3f} | {share} | {report['probe_hard']['p'][g]:.3f} | "
                     f"{report['probe_soft'][g]:.3f} | {cor} | {quality} | {fd} |")  # fmt: skip
    return lines


def _summary(report: dict) -> list[str]:
    names, absent = report["groups"], report.get("absent", {})
    reader = "auditor" if "auditor" in report else "probe, raw"
    a = report.get("auditor") or report["probe_hard"]
    fd = a["fairness_discrepancy"]
    lines = [f"fairness discrepancy ({reader}) {fd['value']:.4f} [{fd['ci'][0]:.4f}, {fd['ci'][1]:.4f}]; "
             f"noise floor at this n {fd['noise_floor']:.4f}; debiased {fd['debiased']:.4f}",
             f"KL to target {a['kl_to_target']['value']:.4f}; "
             f"normalised entropy {a['normalised_entropy']['value']:.4f}; "
             f"minority coverage {a['minority_coverage']['value']:.3f}; difference {a['difference']:.3f}; "
             f"ratio {a['ratio']:.3f}"]  # fmt: skip
    if "auditor" not in report:
        overall = report["overall"]
        lines.append(f"no auditor reads {report['attribute']}: by the {overall['reading'].replace('_', ' ')} "
                     f"shares, fairness discrepancy {overall['fairness_discrepancy']:.4f}")  # fmt: skip
    quality = (f"FD-fmnist against the test split {report['fd_fmnist_vs_test']:.2f}" if "fd_fmnist_vs_test" in report
               else "FD-fmnist absent: " + absent.get("fd_fmnist", ""))  # fmt: skip
    amplification = (", ".join(f"{g} {x:.2f}" for g, x in zip(names, report["amplification"]))
                     if "amplification" in report else "absent: " + absent.get("amplification", ""))  # fmt: skip
    lines.append(f"{quality}; amplification p_gen / p_train {amplification}")
    if "by_class" in report:
        flagged = ", ".join(str(r["class"]) for r in report["by_class"] if r["flagged"]) or "none"
        lines.append(f"classes flagged (Bonferroni-adjusted 95 % {_interval_name(report)} interval of the first "
                     f"group's share excludes the target): {flagged}")  # fmt: skip
    if "by_class_vs_reference" in report:
        lines.append(_reference_flags(report))
    accuracy = report.get("probe_accuracy_on_samples")
    lines.append((f"probe accuracy on these samples (against the auditor) {accuracy:.3f}; " if accuracy is not None
                  else "") + f"ambiguous probe predictions {report['ambiguous_share']:.3f}")  # fmt: skip
    return lines


def _reference_flags(report: dict) -> str:
    rows, minority = report["by_class_vs_reference"], report["groups"][0]

    def listed(direction: str) -> str:
        return ", ".join(str(r["class"]) for r in rows if r["direction"] == direction) or "none"

    return ("classes flagged against the reference generator (Bonferroni-adjusted 95 % Newcombe interval of the "
            f"difference excludes 0): {minority} under-represented {listed('under')}; over-represented "
            f"{listed('over')}")  # fmt: skip


def _class_table(report: dict) -> list[str]:
    rows = {r["class"]: r for r in report.get("by_class", [])}
    versus = {r["class"]: r for r in report.get("by_class_vs_reference", [])}
    if not rows:
        return []
    head = f"| class | {report['groups'][0]} share (Bonferroni {_interval_name(report)}) | flagged vs target |"
    rule = "|---|---|---|"
    if versus:
        head += " reference generator's share | difference (Bonferroni Newcombe) | flagged vs reference |"  # under/over
        rule += "---|---|---|"
    lines = ["", head, rule]
    for c, r in rows.items():
        line = f"| {c} | {r['share']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}] | {'yes' if r['flagged'] else ''} |"
        if c in versus:
            v = versus[c]
            low, high = v["difference_ci"]
            line += f" {v['reference_share']:.3f} | {v['share'] - v['reference_share']:+.3f} [{low:+.3f}, {high:+.3f}]"
            line += f" | {v['direction']} |"
        lines.append(line)
    return lines


def plot_report(report: dict, path: Path) -> Path:
    plt = pyplot()

    names, a = report["groups"], report.get("auditor")
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 2.5, 3.2))
    if a is not None:
        err = np.array([[p - lo, hi - p] for p, (lo, hi) in zip(a["p"], a["share_ci"])]).T
        ax.bar(x - 0.2, a["p"], 0.4, yerr=err, capsize=3, label=f"auditor (95 % {_interval_name(report)})")
    if "estimate" in report.get("probe_corrected", {}):
        c = report["probe_corrected"]
        cerr = np.array([[e - lo, hi - e] for e, lo, hi in zip(c["estimate"], c["low"], c["high"])]).T
        ax.bar(x + 0.2, c["estimate"], 0.4, yerr=cerr, capsize=3, label="probe, error-corrected (95 %)")
    ax.scatter(x, report["target"], color="k", marker="_", s=400, zorder=3, label="target")
    ax.set_xticks(x, names)
    ax.set_ylabel("share of samples")
    ax.set_title(describe(report), fontsize=8)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def sample_grid(images: torch.Tensor, groups: np.ndarray, names: list[str], path: Path, title: str,
                columns: int = 20, limit: int = 200) -> Path:  # fmt: skip
    """The first ``limit`` samples, each framed in its group's colour, with a legend of the groups."""
    from matplotlib.patches import Patch

    plt = pyplot()
    shown = images[:limit].float().clamp(0, 1)
    if shown.shape[1] == 1:
        shown = shown.repeat(1, 3, 1, 1)
    width = max(1, shown.shape[-1] // 14)
    colours = torch.tensor([[int(c[i : i + 2], 16) / 255 for i in (1, 3, 5)] for c in COLOURS])
    framed = colours[np.asarray(groups[:limit]) % len(COLOURS)][:, :, None, None].expand(
        -1, -1, shown.shape[2] + 2 * width, shown.shape[3] + 2 * width).clone()  # fmt: skip
    framed[:, :, width:-width, width:-width] = shown
    rows = [framed[i : i + columns] for i in range(0, len(framed), columns)]
    canvas = grid_canvas(rows, pad=1)
    fig, ax = plt.subplots(figsize=(min(16, canvas.shape[1] / 40 + 1), canvas.shape[0] / 40 + 1.2))
    ax.imshow(canvas, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    handles = [Patch(color=COLOURS[g % len(COLOURS)], label=name) for g, name in enumerate(names)]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(names), fontsize=8)
    return save_figure(fig, path)
