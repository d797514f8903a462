"""``replab fairness audit --images``: audit any generator's samples — a folder or an ``.npz`` — without the
generator. Everything the run audit reports that needs only the images is reported the same way, in the same
``artifacts/audit.json`` schema (auditor, probe raw / soft / error-corrected, discrepancy with its noise
floor, KL, entropy, coverage, per group and per class, FD-fmnist against the test split); what needs the
generator — amplification against its training data, sampling-time corrections — is listed under
``absent`` with the reason, not dropped silently."""

from __future__ import annotations

import json
from pathlib import Path

from replab import ASSETS
from replab.core.run import Run
from replab.errors import ConfigError, DataError
from replab.fairness.auditor import read_target
from replab.fairness.probe import PROBE_INFO, load_probe
from replab.fairness.real_images import rae_data
from replab.fairness.sample_audit import sample_report, write_audit
from replab.fairness.sample_sets import check_shape, load_sample_set
from replab.metrics.fairness import INTERVALS
from replab.rae.latent_cache import latents_fingerprint
from replab.rae.model import load_rae

ABSENT = {
    "amplification": "needs the generator's training data (audit the run with --run for it)",
    "mitigation": "sampling-time corrections need the generator",
}


def probe_rae(probe_folder: str | Path, rae: str | Path | None = None) -> Path:
    """The RAE run whose tokens the probe reads: ``rae`` when given, else the one the probe records if it is
    here, else a shipped RAE run with the same fingerprint."""
    if rae:
        return Path(rae)
    try:
        info = json.loads((Path(probe_folder) / PROBE_INFO).read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{probe_folder}: not a probe folder ({PROBE_INFO} unreadable: {exc})") from exc
    candidates = [Path(info.get("rae", "")), *sorted((ASSETS / "runs").iterdir())]
    for folder in candidates:
        if (folder / "config.yaml").is_file():
            try:
                if latents_fingerprint(folder) == info.get("fingerprint"):
                    return folder
            except Exception:  # not an RAE run
                continue
    raise DataError(f"{probe_folder}: the probe's RAE ({info.get('rae')}) is not here and no shipped RAE matches "
                    "its fingerprint: give --rae RUN")  # fmt: skip


def audit_images(
    images_path: str | Path,
    probe_folder: str | Path,
    rae: str | Path | None = None,
    target: str = "",
    out: str | Path | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    interval: str = "wilson",
) -> dict:
    """Audit the sample set at ``images_path`` with a probe (and the pixel-rule auditor where the attribute
    has one); writes the audit Run at ``out`` (default ``./runs/<name>-fairness``) after every input is checked."""
    if interval not in INTERVALS:
        raise ConfigError(f"interval={interval}: expected one of {', '.join(INTERVALS)}")
    images, labels = load_sample_set(images_path)
    rae_run = probe_rae(probe_folder, rae)
    probe, info = load_probe(probe_folder, rae_run)
    attribute, names = info["spec"]["attribute"], info["groups"]
    goal = read_target(target, attribute, len(names))
    check_shape(images, images_path, rae_data(rae_run))
    if labels is not None and int(labels.max()) >= 10:
        raise DataError(f"{images_path}: class labels must be 0…9 (found {int(labels.max())})")
    rae_model, _ = load_rae(rae_run)
    settings = {"images": str(images_path), "probe": str(probe_folder), "rae": str(rae_run), "n": len(images),
                "target": goal.tolist(), "seed": seed, "interval": interval}  # fmt: skip
    folder = Path(out) if out else Path("runs") / f"{Path(images_path).stem}-fairness"
    with Run(folder, settings, kind="fairness-audit", defaults={"interval": "wilson"}) as run:
        with run.phase("audit"):
            report, shown = sample_report(images, labels, probe, info, rae_model, goal, n_boot, seed, rae_run,
                                          interval)  # fmt: skip
        report.update(attribute=attribute, groups=names, target=goal.tolist(), n=len(images), fair="none",
                      source={"images": str(images_path)})  # fmt: skip
        report["absent"] = {**ABSENT, **report.get("absent", {})}
        run.add_units("images", len(images))
        write_audit(run, report, images, shown)
    return report
