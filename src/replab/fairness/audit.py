"""``replab fairness audit``: the attribute distribution of a diffusion run's samples, with honest uncertainty.

The samples are drawn class-balanced with the run's guidance. Two readers of the attribute:

- the *auditor*, independent of any mitigation: the exact pixel rule for ``tone`` (with each sample's class
  label), the FD-fmnist classifier for ``group``;
- the *probe* (what a guidance or resampling method would use), raw and error-corrected: its confusion on
  held-out real images is inverted, with a joint bootstrap over the samples and those held-out pairs.

Reported in fairlearn's vocabulary: overall, by_group (share with a Wilson interval, precision and recall of
the probe against the auditor, matched-N FD-fmnist of each group against real test images of that group),
difference and ratio; plus the fairness discrepancy (with its noise floor and a debiased estimate), KL,
normalised entropy and minority coverage, each scalar with a bootstrap interval.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from replab.core.config import from_dict
from replab.core.data import DataConfig, load_images
from replab.core.paths import job_output
from replab.core.plots import pyplot, save_figure
from replab.core.run import Run
from replab.diffusion.sample import load_diffusion, resolve_rae
from replab.diffusion.samplers import GuidanceConfig
from replab.errors import ConfigError
from replab.fairness.auditor import auditor_groups, default_target, ratio_inputs, read_target
from replab.fairness.mitigate import RatioOptions
from replab.fairness.probe import held_out_pairs, load_probe, posteriors
from replab.fairness.sample import fair_generate
from replab.metrics import fairness as fm
from replab.metrics.features import extract_features, load_feature_net
from replab.metrics.frechet import frechet_from_features

AMBIGUOUS = 0.6  # a probe posterior whose largest entry is below this counts as ambiguous


def distribution_report(groups: np.ndarray, target: np.ndarray, n_boot: int, seed: int) -> dict:
    """Shares with Wilson intervals and the scalar metrics with bootstrap intervals, for hard group labels."""
    k, n = len(target), len(groups)
    p = fm.group_distribution(groups, k)
    scalars = {
        "fairness_discrepancy": lambda g: fm.fairness_discrepancy(fm.group_distribution(g, k), target),
        "kl_to_target": lambda g: fm.kl_to_target(fm.group_distribution(g, k), target),
        "normalised_entropy": lambda g: fm.normalised_entropy(fm.group_distribution(g, k)),
        "minority_coverage": lambda g: fm.minority_coverage(fm.group_distribution(g, k)),
    }
    out = {"p": p.tolist(), "wilson": [fm.wilson_interval(int(c), n) for c in np.bincount(groups, minlength=k)]}
    for name, fn in scalars.items():
        out[name] = {"value": fn(groups), "ci": fm.bootstrap_interval(fn, groups, n_boot, seed)}
    out["fairness_discrepancy"]["noise_floor"] = fm.discrepancy_noise_floor(target, n)
    out["fairness_discrepancy"]["debiased"] = fm.debiased_discrepancy(p, target, n)
    out["difference"], out["ratio"] = float(p.max() - p.min()), fm.max_min_ratio(p)
    return out


def per_class_shares(oracle: np.ndarray, labels: torch.Tensor, target: np.ndarray, level: float = 0.95) -> list[dict]:
    """Each class's share of group 0 (the minority of the skew presets) with a Bonferroni-adjusted Wilson
    interval over the classes; ``flagged`` when it excludes the target's share (a per-class skew detector)."""
    from scipy.stats import norm

    counts = class_counts(oracle, labels)
    z = float(norm.ppf(1 - (1 - level) / (2 * len(counts))))
    rows = []
    for c, (count, n) in counts.items():
        low, high = fm.wilson_interval(count, n, z)
        rows.append({"class": c, "n": n, "count": count, "share": count / n, "ci": [low, high],
                     "flagged": not low <= target[0] <= high})  # fmt: skip
    return rows


def class_counts(oracle: np.ndarray, labels: torch.Tensor) -> dict[int, tuple[int, int]]:
    """Per class: (samples in group 0, samples)."""
    mask = {int(c): (labels == c).numpy() for c in labels.unique()}
    return {c: (int((oracle[m] == 0).sum()), int(m.sum())) for c, m in mask.items()}


def per_class_against_reference(
    oracle: np.ndarray, labels: torch.Tensor, reference: dict[int, tuple[int, int]], level: float = 0.95
) -> list[dict]:
    """Each class's share of group 0 beside a *reference generator*'s (``reference``: its per-class counts, from
    the same recipe trained on unskewed data, sampled alike): ``flagged`` when the Bonferroni-adjusted Newcombe
    interval of the difference excludes 0. This separates a skew the training data put into a class from the
    pipeline's own per-class distortion (a decoder or guidance that darkens one class for every training set)."""
    from scipy.stats import norm

    mine = class_counts(oracle, labels)
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


def overall_fd(images: torch.Tensor, real: torch.Tensor) -> float:
    """FD-fmnist of all samples against the real test split (balanced in tone by construction)."""
    net, _ = load_feature_net()
    return frechet_from_features(extract_features(net, real), extract_features(net, images))


def training_shares(config, attribute: str, k: int, run_folder: str | Path = ".") -> np.ndarray:
    """The attribute's shares in the data the generator learned: its ``subset`` benchmark's, else the real data's.
    A relative ``subset`` is found like the run's RAE (working directory, else the run's folder)."""
    record = resolve_rae(config.subset, Path(run_folder)) / "benchmark.json" if config.subset else None
    if record is not None and record.exists():
        info = json.loads(record.read_text())
        if info.get("attribute") == attribute:
            return np.array(list(info["shares"].values()))
    return default_target(attribute, k)


def per_group_quality(images: torch.Tensor, oracle: np.ndarray, predicted: np.ndarray, real: torch.Tensor,
                      real_groups: np.ndarray, k: int) -> list[dict]:  # fmt: skip
    """Precision/recall of the probe per group and FD-fmnist of each group at matched N (the smallest group's)."""
    net, _ = load_feature_net()
    counts = [int((oracle == g).sum()) for g in range(k)]
    matched = min(c for c in counts if c > 0) if any(counts) else 0
    rows = []
    for g in range(k):
        hit = (predicted == g) & (oracle == g)
        row = {"n": counts[g], "precision": float(hit.sum() / max(1, (predicted == g).sum())),
               "recall": float(hit.sum() / max(1, counts[g]))}  # fmt: skip
        if counts[g] >= 2 and matched >= 2:
            fake = extract_features(net, images[torch.from_numpy(np.flatnonzero(oracle == g)[:matched])])
            ref = extract_features(net, real[torch.from_numpy(np.flatnonzero(real_groups == g))])
            row["fd_fmnist_matched"] = frechet_from_features(ref, fake)
        rows.append(row)
    return rows


def audit(
    run_folder: str | Path, probe_folder: str | Path, n: int = 1000, target: str = "", seed: int = 0,
    guidance: GuidanceConfig | None = None, out: str | Path | None = None, n_boot: int = 1000, fair: str = "none",
    guide_probe: str | Path | None = None, guide_scale: float = 8.0, guide_window: tuple[float, float] = (0.0, 0.9),
    reference_run: str | Path | None = None, ratio: RatioOptions = RatioOptions(),
) -> dict:  # fmt: skip
    """Audit ``n`` samples of a run, drawn with the sampling-time correction ``fair`` (``none``: as the run samples).
    With ``reference_run`` (a generator trained on unskewed data), its ``n`` samples, drawn alike, give a second
    per-class test: where this run's share differs from the reference's (``by_class_vs_reference``)."""
    model, config, rae = load_diffusion(run_folder)
    rae_run = resolve_rae(config.rae, Path(run_folder))
    probe, info = load_probe(probe_folder, rae_run)
    attribute, names = info["spec"]["attribute"], info["groups"]
    k = len(names)
    goal = read_target(target, attribute, k)
    if (goal * n < 5).any():
        warnings.warn(f"fewer than 5 samples expected in group {names[int(np.argmin(goal))]} at n={n}", stacklevel=2)
    guidance = guidance or config.sample
    settings = {"run": str(run_folder), "probe": str(probe_folder), "n": n, "seed": seed, "target": goal.tolist(),
                "guidance": asdict(guidance), "fair": fair, "reference_run": str(reference_run or "")}  # fmt: skip
    if fair == "ratio":
        settings["ratio"] = asdict(ratio)
    steering = load_probe(guide_probe, rae_run)[0] if guide_probe else None  # inputs checked before the Run exists
    with Run(out or job_output(run_folder, "fairness"), settings, kind="fairness-audit", mutable=("*",)) as run:
        with run.phase("sample"):
            real = (ratio_inputs(attribute, info, config, rae_run, Path(run_folder), goal, seed, ratio)
                    if fair == "ratio" else None)  # fmt: skip
            images, labels, cost = fair_generate(model, rae, config, n=n, mode=fair, target=goal, guidance=guidance,
                                                 probe=probe, probe_info=info, seed=seed, guide_probe=steering,
                                                 guide_scale=guide_scale, guide_window=guide_window,
                                                 real=real, ratio=ratio)  # fmt: skip
            run.add_units("images", n)
        with run.phase("audit"):
            report = sample_report(images, labels, probe, info, rae, attribute, goal, n_boot, seed, rae_run)
            if "assigned" in cost:  # guidance: how often the auditor agrees with the group each sample was steered to
                assigned = np.array(cost.pop("assigned"))
                cost["hit_rate"] = float((auditor_groups(attribute, images, labels, info) == assigned).mean())
        if reference_run is not None and labels is not None:
            with run.phase("reference"):
                oracle = auditor_groups(attribute, images, labels, info)
                report["by_class_vs_reference"] = _against_reference(reference_run, guidance, n, seed, info, oracle,
                                                                     labels)  # fmt: skip
                run.add_units("images", n)
        train_shares = training_shares(config, attribute, len(goal), run_folder)
        amplification = (np.array(report["auditor"]["p"]) / train_shares).tolist()
        report.update(attribute=attribute, groups=names, target=goal.tolist(), n=n, guidance=asdict(guidance),
                      fair=fair, mitigation=cost, training_shares=train_shares.tolist(),
                      amplification=amplification)  # fmt: skip
        (run.artifacts / "audit.json").write_text(json.dumps(report, indent=1))
        (run.artifacts / "audit.md").write_text(format_report(report))
        plot_report(report, run.artifacts / "audit.png")
        run.log(None, event="audit", fairness_discrepancy=report["auditor"]["fairness_discrepancy"]["value"])
    return report


def _against_reference(reference_run, guidance, n, seed, info, oracle, labels) -> list[dict]:
    """``reference_run``: a diffusion run (sampled here, alike) or a finished audit of one (its counts reused when
    it was sampled with the same guidance)."""
    raw = Run.read_config(Path(reference_run))
    if raw.get("kind") == "fairness-audit":
        earlier = json.loads((Path(reference_run) / "artifacts" / "audit.json").read_text())
        same = earlier["guidance"] == json.loads(json.dumps(asdict(guidance)))  # as JSON stored it: lists
        if not same or earlier["attribute"] != info["spec"]["attribute"]:
            raise ConfigError(
                f"--reference-run {reference_run}: that audit sampled {earlier['attribute']} with "
                f"{earlier['guidance']}, this one with {asdict(guidance)}: compare like with like"
            )
        if earlier.get("fair", "none") != "none":
            raise ConfigError(f"--reference-run {reference_run}: that audit was corrected (--fair {earlier['fair']})")
        return per_class_against_reference(
            oracle, labels, {r["class"]: (r["count"], r["n"]) for r in earlier["by_class"]}
        )
    model, config, rae = load_diffusion(reference_run)
    if not model.num_classes:
        raise ConfigError(f"--reference-run {reference_run}: a per-class comparison needs a class-conditional model")
    images, ref_labels, _ = fair_generate(model, rae, config, n=n, mode="none", target=np.ones(1), guidance=guidance,
                                          seed=seed)  # fmt: skip
    ref_oracle = auditor_groups(info["spec"]["attribute"], images, ref_labels, info)
    return per_class_against_reference(oracle, labels, class_counts(ref_oracle, ref_labels))


def sample_report(images, labels, probe, info, rae, attribute, goal, n_boot, seed, rae_run) -> dict:
    """Everything the audit says that needs only the samples (and their class labels, when known)."""
    k = len(goal)
    with torch.no_grad():
        latents = torch.cat([rae.encode(images[i : i + 500]) for i in range(0, len(images), 500)])
    post = posteriors(probe, latents).numpy()
    predicted = post.argmax(1)
    oracle = auditor_groups(attribute, images, labels, info)
    test = load_images(from_dict(DataConfig, Run.read_config(rae_run)["data"], "rae config.yaml:data"), "test")
    real_groups = auditor_groups(attribute, test.float(), test.labels, info)
    report = {
        "auditor": distribution_report(oracle, goal, n_boot, seed),
        "probe_hard": distribution_report(predicted, goal, n_boot, seed),
        "probe_soft": fm.group_distribution(post, k).tolist(),
        "ambiguous_share": float((post.max(1) < AMBIGUOUS).mean()),
        "by_group": per_group_quality(images, oracle, predicted, test.float(), real_groups, k),
        "probe_accuracy_on_samples": float((predicted == oracle).mean()),
        "fd_fmnist_vs_test": overall_fd(images, test.float()),
    }
    if labels is not None:
        report["by_class"] = per_class_shares(oracle, labels, goal)
    try:
        corrected = fm.corrected_interval(predicted, *held_out_pairs(info), k=k, n_boot=n_boot, seed=seed)
        report["probe_corrected"] = {key: corrected[key].tolist() for key in ("estimate", "low", "high")}
    except fm.ProbeTooWeak as exc:
        report["probe_corrected"] = {"refused": str(exc)}
    return report


def format_report(report: dict) -> str:
    names, a = report["groups"], report["auditor"]
    fair = report.get("fair", "none")
    cost = report.get("mitigation", {}).get("draws_per_kept")
    power = report.get("mitigation", {}).get("power_used")
    model = report.get("mitigation", {}).get("model")
    how = (
        f", sampled with --fair {fair}"
        + (f" ({cost:.2f} draws per kept sample)" if cost else "")
        + (f", {model} ratio at power {power:.2f}" if power is not None else "")
        if fair != "none"
        else ""
    )
    lines = [f"# Fairness audit: {report['attribute']} over {report['n']} samples{how}", "",
             "| group | target | auditor share (Wilson 95 %) | probe (hard) | probe (soft) | probe corrected (95 %) | "
             "precision | recall | FD-fmnist, matched N |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    corrected = report["probe_corrected"]
    for g, name in enumerate(names):
        row = report["by_group"][g]
        cor = "refused" if "refused" in corrected else (
            f"{corrected['estimate'][g]:.3f} [{corrected['low'][g]:.3f}, {corrected['high'][g]:.3f}]")  # fmt: skip
        fd = f"{row['fd_fmnist_matched']:.2f}" if "fd_fmnist_matched" in row else "–"
        low, high = a["wilson"][g]
        lines.append(f"| {name} | {report['target'][g]:.3f} | {a['p'][g]:.3f} [{low:.3f}, {high:.3f}] | "
                     f"{report['probe_hard']['p'][g]:.3f} | {report['probe_soft'][g]:.3f} | {cor} | "
                     f"{row['precision']:.3f} | {row['recall']:.3f} | {fd} |")  # fmt: skip
    fd = a["fairness_discrepancy"]
    lines += ["", f"fairness discrepancy (auditor) {fd['value']:.4f} [{fd['ci'][0]:.4f}, {fd['ci'][1]:.4f}]; "
              f"noise floor at this n {fd['noise_floor']:.4f}; debiased {fd['debiased']:.4f}",
              f"KL to target {a['kl_to_target']['value']:.4f}; "
              f"normalised entropy {a['normalised_entropy']['value']:.4f}; "
              f"minority coverage {a['minority_coverage']['value']:.3f}; difference {a['difference']:.3f}; "
              f"ratio {a['ratio']:.3f}",
              f"FD-fmnist against the test split {report['fd_fmnist_vs_test']:.2f}; amplification p_gen / p_train "
              + (", ".join(f"{g} {a:.2f}" for g, a in zip(names, report["amplification"]))
                 if "amplification" in report else "absent: " + report.get("absent", {}).get("amplification", "")),
              "classes flagged (Bonferroni-adjusted 95 % Wilson interval of the first group's share excludes the "
              "target): " + (", ".join(str(r["class"]) for r in report.get("by_class", []) if r["flagged"]) or "none"),
              *([_reference_flags(report)] if "by_class_vs_reference" in report else []),
              f"probe accuracy on these samples (against the auditor) {report['probe_accuracy_on_samples']:.3f}; "
              f"ambiguous probe predictions {report['ambiguous_share']:.3f}"]  # fmt: skip
    return "\n".join(lines + _class_table(report)) + "\n"


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
    head = f"| class | {report['groups'][0]} share (Bonferroni Wilson) | flagged vs target |"
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

    names, a = report["groups"], report["auditor"]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 2, 3))
    err = np.array([[p - lo, hi - p] for p, (lo, hi) in zip(a["p"], a["wilson"])]).T
    ax.bar(x - 0.2, a["p"], 0.4, yerr=err, capsize=3, label="auditor (95 % Wilson)")
    if "estimate" in report["probe_corrected"]:
        c = report["probe_corrected"]
        cerr = np.array([[e - lo, hi - e] for e, lo, hi in zip(c["estimate"], c["low"], c["high"])]).T
        ax.bar(x + 0.2, c["estimate"], 0.4, yerr=cerr, capsize=3, label="probe, error-corrected (95 %)")
    ax.scatter(x, report["target"], color="k", marker="_", s=400, zorder=3, label="target")
    ax.set_xticks(x, names)
    ax.set_ylabel("share of samples")
    ax.legend(fontsize=7)
    return save_figure(fig, path)
