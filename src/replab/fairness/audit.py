"""``replab fairness audit``: the attribute distribution of a diffusion run's samples, with honest uncertainty.

The samples are drawn class-balanced with the run's guidance (and the correction ``fair``), then audited by
``audit_samples`` (``frame.py``, pure) with two readers of the attribute:

- the *auditor*, independent of any mitigation: the exact pixel rule for ``tone`` (with each sample's class
  label), the FD-fmnist classifier for ``group``;
- the *probe* (what a guidance or resampling method would use), raw and error-corrected: its confusion on
  held-out real images is inverted, with a joint bootstrap over the samples and those held-out pairs.

Beside them, what needs the images: FD-fmnist against the test split, overall and per group at matched N,
and the amplification p_gen / p_train against the generator's training data.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from replab.core.paths import job_output
from replab.core.run import Run
from replab.diffusion.sample import load_diffusion, resolve_rae
from replab.diffusion.samplers import GuidanceConfig
from replab.errors import ConfigError
from replab.fairness.auditor import auditor_groups, has_auditor, read_target
from replab.fairness.frame import class_counts, per_class_against_reference
from replab.fairness.probe import load_probe
from replab.fairness.ratio import RatioOptions
from replab.fairness.real_images import ratio_inputs, training_shares
from replab.fairness.sample import FAIR_MODES, fair_generate
from replab.fairness.sample_audit import sample_report, write_audit
from replab.metrics.fairness import INTERVALS


@dataclass(frozen=True)
class AuditConfig:
    """An audit job's settings. ``target``: uniform | reference | a JSON list or file of shares (default: the
    attribute's); ``fair``: the sampling-time correction (``FAIR_MODES``); ``guide_*``: probe guidance's probe,
    scale (8: the validated one) and time window; ``reference_run``: a generator trained on unskewed data, or an
    audit of one, for the per-class test against it; ``ratio``: ``--fair ratio``'s settings."""

    n: int = 1000
    target: str = ""
    seed: int = 0
    n_boot: int = 1000
    fair: str = "none"
    guide_probe: str = ""
    guide_scale: float = 8.0
    guide_window: tuple[float, float] = (0.0, 0.9)
    reference_run: str = ""
    interval: str = "wilson"  # a share's interval: wilson, or exact (Clopper–Pearson) for small groups
    ratio: RatioOptions = field(default_factory=RatioOptions)

    def __post_init__(self) -> None:
        if self.fair not in FAIR_MODES:
            raise ConfigError(f"fair={self.fair}: expected one of {', '.join(FAIR_MODES)}")
        if self.n < 1:
            raise ConfigError(f"n={self.n}: expected at least one sample")
        if self.interval not in INTERVALS:
            raise ConfigError(f"interval={self.interval}: expected one of {', '.join(INTERVALS)}")


def audit(
    run_folder: str | Path, probe_folder: str | Path, job: AuditConfig = AuditConfig(),
    guidance: GuidanceConfig | None = None, out: str | Path | None = None,
) -> dict:  # fmt: skip
    """Audit ``job.n`` samples of a run, drawn with the sampling-time correction ``job.fair`` (``none``: as the
    run samples). With ``job.reference_run`` (a generator trained on unskewed data), its samples, drawn alike,
    give a second per-class test: where this run's share differs from the reference's."""
    model, config, rae = load_diffusion(run_folder)
    rae_run = resolve_rae(config.rae, Path(run_folder))
    probe, info = load_probe(probe_folder, rae_run)
    attribute, names = info["spec"]["attribute"], info["groups"]
    goal = read_target(job.target, attribute, len(names))
    if (goal * job.n < 5).any():
        warnings.warn(f"fewer than 5 samples expected in group {names[int(np.argmin(goal))]} at n={job.n}",
                      stacklevel=2)  # fmt: skip
    guidance = guidance or config.sample
    settings = {"run": str(run_folder), "probe": str(probe_folder), **asdict(job), "target": goal.tolist(),
                "guidance": asdict(guidance)}  # fmt: skip
    if job.fair != "ratio":
        settings.pop("ratio")
    steering = load_probe(job.guide_probe, rae_run)[0] if job.guide_probe else None  # checked before the Run
    if job.reference_run and not has_auditor(info):
        raise ConfigError(f"--reference-run: the per-class test counts auditor groups; {attribute} has no auditor")
    defaults = {"interval": AuditConfig.interval}  # settings added since earlier audits were written
    with Run(out or job_output(run_folder, "fairness"), settings, kind="fairness-audit", defaults=defaults) as run:
        with run.phase("sample"):
            real = (ratio_inputs(attribute, info, config, rae_run, Path(run_folder), goal, job.seed, job.ratio)
                    if job.fair == "ratio" else None)  # fmt: skip
            images, labels, cost = fair_generate(model, rae, config, n=job.n, mode=job.fair, target=goal,
                                                 guidance=guidance, probe=probe, probe_info=info, seed=job.seed,
                                                 guide_probe=steering, guide_scale=job.guide_scale,
                                                 guide_window=job.guide_window, real=real,
                                                 ratio=job.ratio)  # fmt: skip
            run.add_units("images", job.n)
        with run.phase("audit"):
            report, shown = sample_report(images, labels, probe, info, rae, goal, job.n_boot, job.seed, rae_run,
                                          job.interval)  # fmt: skip
            if "assigned" in cost:  # guidance: how often the auditor agrees with the group each sample was steered to
                cost["hit_rate"] = float((shown == np.array(cost.pop("assigned"))).mean())
        if job.reference_run and labels is not None:
            with run.phase("reference"):
                report["by_class_vs_reference"] = _against_reference(job.reference_run, guidance, job.n, job.seed,
                                                                     info, shown, labels)  # fmt: skip
                run.add_units("images", job.n)
        report.update(attribute=attribute, groups=names, target=goal.tolist(), n=job.n, guidance=asdict(guidance),
                      fair=job.fair, mitigation=cost)  # fmt: skip
        if has_auditor(info):
            train_shares = training_shares(config, attribute, len(goal), run_folder)
            report.update(training_shares=train_shares.tolist(),
                          amplification=(np.array(report["auditor"]["p"]) / train_shares).tolist())  # fmt: skip
        else:
            report.setdefault("absent", {})["amplification"] = f"{attribute}'s shares in the training data are unknown"
        write_audit(run, report, images, shown)
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
            oracle, labels.numpy(), {r["class"]: (r["count"], r["n"]) for r in earlier["by_class"]}
        )
    model, config, rae = load_diffusion(reference_run)
    if not model.num_classes:
        raise ConfigError(f"--reference-run {reference_run}: a per-class comparison needs a class-conditional model")
    images, ref_labels, _ = fair_generate(model, rae, config, n=n, mode="none", target=np.ones(1), guidance=guidance,
                                          seed=seed)  # fmt: skip
    ref_oracle = auditor_groups(info["spec"]["attribute"], images, ref_labels, info)
    return per_class_against_reference(oracle, labels.numpy(), class_counts(ref_oracle, ref_labels.numpy()))
