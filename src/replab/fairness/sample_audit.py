"""What an audit says about a set of samples, wherever they came from (a diffusion run sampled by ``audit``, or
any generator's files read by ``audit_images``): the attribute's distribution read by the auditor and the probe,
FD-fmnist overall and per group, and the audit's files. Nothing here imports a generator."""

from __future__ import annotations

import json

import numpy as np
import torch

from replab.core.real_features import real_features
from replab.core.run import Run
from replab.fairness.auditor import auditor_groups, has_auditor
from replab.fairness.frame import audit_samples
from replab.fairness.probe import held_out_pairs, posteriors
from replab.fairness.real_images import rae_data, rae_split
from replab.fairness.report import describe, format_report, plot_report, sample_grid
from replab.metrics.features import extract_features, load_feature_net
from replab.metrics.frechet import frechet_from_features


def overall_fd(images: torch.Tensor, real: torch.Tensor) -> float:
    """FD-fmnist of all samples against the real test split (balanced in tone by construction)."""
    net, _ = load_feature_net()
    return frechet_from_features(real_features(net, real), extract_features(net, images))


def matched_fd(images: torch.Tensor, groups: np.ndarray, real: torch.Tensor, real_groups: np.ndarray,
               k: int) -> list[float | None]:  # fmt: skip
    """FD-fmnist of each group's samples against real test images of that group, at matched N (the smallest
    group's), None for a group with fewer than 2 samples."""
    net, _ = load_feature_net()
    counts = [int((groups == g).sum()) for g in range(k)]
    reference = real_features(net, real)
    matched = min((c for c in counts if c > 0), default=0)
    out: list[float | None] = []
    for g in range(k):
        if counts[g] < 2 or matched < 2:
            out.append(None)
            continue
        fake = extract_features(net, images[torch.from_numpy(np.flatnonzero(groups == g)[:matched])])
        ref = reference[np.flatnonzero(real_groups == g)]
        out.append(frechet_from_features(ref, fake))
    return out


def sample_report(images, labels, probe, info, rae, goal: np.ndarray, n_boot: int, seed: int,
                  rae_run, interval: str = "wilson") -> tuple[dict, np.ndarray]:  # fmt: skip
    """Everything the audit says that needs only the samples (and their class labels, when known): the probe's
    and the auditor's readings through ``audit_samples``, and FD-fmnist overall and per group; with the groups
    each sample is shown in (the auditor's, else the probe's)."""
    attribute = info["spec"]["attribute"]
    with torch.no_grad():
        latents = torch.cat([rae.encode(images[i : i + 500]) for i in range(0, len(images), 500)])
    post = posteriors(probe, latents).numpy()
    oracle = auditor_groups(attribute, images, labels, info) if has_auditor(info) else None
    frame = audit_samples(goal, groups=oracle, posteriors=post, held_out=held_out_pairs(info),
                          classes=None if labels is None else labels.numpy(), names=info["groups"], n_boot=n_boot,
                          seed=seed, interval=interval)  # fmt: skip
    report = frame.to_dict()
    if rae_data(rae_run).source != "fmnist":
        report.setdefault("absent", {})["fd_fmnist"] = "FD-fmnist reads Fashion-MNIST-shaped images"
        return report, post.argmax(1) if oracle is None else oracle
    test = rae_split(rae_run, "test")
    if oracle is not None:  # per group, against real test images of that group: read by the auditor
        real_groups = auditor_groups(attribute, test.float(), test.labels, info)
        for row, fd in zip(report["by_group"], matched_fd(images, oracle, test.float(), real_groups, len(goal))):
            if fd is not None:
                row["fd_fmnist_matched"] = fd
    report["fd_fmnist_vs_test"] = overall_fd(images, test.float())
    return report, post.argmax(1) if oracle is None else oracle


def write_audit(run: Run, report: dict, images: torch.Tensor, groups: np.ndarray) -> None:
    """``audit.json`` (the schema), ``audit.md`` (the table), ``audit.png`` (the chart), ``samples.png``."""
    (run.artifacts / "audit.json").write_text(json.dumps(report, indent=1))
    (run.artifacts / "audit.md").write_text(format_report(report))
    plot_report(report, run.artifacts / "audit.png")
    reader = "auditor" if "auditor" in report else "probe"
    sample_grid(images, groups, report["groups"], run.artifacts / "samples.png",
                f"samples framed by their {reader} group: {describe(report)}")  # fmt: skip
    run.log(None, event="audit", fairness_discrepancy=report["overall"]["fairness_discrepancy"])
