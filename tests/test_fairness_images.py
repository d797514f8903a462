"""``replab fairness audit --images``: any generator's samples, audited without the generator. The sample
set here is real Fashion-MNIST test images whose dark share is chosen by the shipped tone probe's pixel
rule, so the auditor must report it exactly and the probe-corrected interval must cover it."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from replab import ASSETS
from replab.cli import main
from replab.core.data import DataConfig, load_images
from replab.fairness.attributes import ToneRule

PROBE = ASSETS / "probes" / "tone"
DARK, LIGHT = 60, 140


@pytest.fixture(scope="module")
def sample_set():
    test = load_images(DataConfig(), "test")
    images, labels = test.float(slice(0, 3000)), test.labels[:3000]
    info = json.loads((PROBE / "probe.json").read_text())
    groups = ToneRule(info["tone_thresholds"]).groups(images, labels).numpy()
    chosen = np.concatenate([np.flatnonzero(groups == 0)[:DARK], np.flatnonzero(groups == 1)[:LIGHT]])
    return images[chosen], labels[chosen]


def _folder(root: Path, images: torch.Tensor, labels: torch.Tensor) -> Path:
    for k, (image, label) in enumerate(zip(images, labels)):
        (root / str(int(label))).mkdir(parents=True, exist_ok=True)
        pixels = (image[0].numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(root / str(int(label)) / f"{k:04d}.png")
    return root


@pytest.fixture(scope="module")
def folder_audit(sample_set, tmp_path_factory):
    """``fairness audit --images`` on the sample set's folder, run from a fresh working directory."""
    root = tmp_path_factory.mktemp("folder-audit")
    folder = _folder(root / "samples", *sample_set)
    here = os.getcwd()
    os.chdir(root)
    try:
        assert main(["fairness", "audit", "--images", str(folder), "--probe", str(PROBE)]) == 0
    finally:
        os.chdir(here)
    return root, folder, json.loads((root / "runs" / "samples-fairness" / "artifacts" / "audit.json").read_text())


def test_a_folder_and_an_npz_of_the_same_images_report_the_known_share(tmp_path, sample_set, folder_audit):
    images, labels = sample_set
    root, folder, report = folder_audit
    assert report["n"] == DARK + LIGHT and report["auditor"]["p"][0] == pytest.approx(DARK / (DARK + LIGHT))
    low, high = report["probe_corrected"]["low"][0], report["probe_corrected"]["high"][0]
    assert low <= DARK / (DARK + LIGHT) <= high
    assert "amplification" not in report and "generator" in report["absent"]["amplification"]
    assert len(report["by_class"]) == len(set(labels.tolist()))
    artifacts = root / "runs" / "samples-fairness" / "artifacts"
    assert "over 200 samples" in (artifacts / "audit.md").read_text()
    for picture in ("audit.png", "samples.png"):  # the titled chart and the grid framed by auditor group
        assert Image.open(artifacts / picture).size[0] > 200
    files = sorted(folder.glob("*/*.png"))  # the folder's order: class sub-folders, then names
    pixels = np.stack([np.asarray(Image.open(p)) for p in files])
    np.savez(tmp_path / "samples.npz", images=pixels, labels=np.array([int(p.parent.name) for p in files]))
    assert main(["fairness", "audit", "--images", str(tmp_path / "samples.npz"), "--probe", str(PROBE),
                 "--out", str(tmp_path / "npz-audit")]) == 0  # fmt: skip
    again = json.loads((tmp_path / "npz-audit" / "artifacts" / "audit.json").read_text())
    assert again["auditor"]["p"] == report["auditor"]["p"]
    assert again["probe_corrected"] == report["probe_corrected"]


def test_audit_samples_from_python_gives_the_same_numbers(sample_set, folder_audit):
    """The pure API, fed the pixel rule's groups and the probe's posteriors, is what the CLI wrote."""
    from replab.fairness import audit_samples, load_probe
    from replab.fairness.probe import held_out_pairs, posteriors
    from replab.rae.model import load_rae

    images, labels = sample_set
    order = torch.from_numpy(np.argsort(labels.numpy(), kind="stable"))  # the folder's order: by class sub-folder
    images, labels = images[order], labels[order]
    report = folder_audit[2]
    probe, info = load_probe(PROBE)
    rae, _ = load_rae(ASSETS / "runs" / "rae-fmnist")
    with torch.no_grad():
        post = posteriors(probe, rae.encode(images)).numpy()
    groups = ToneRule(info["tone_thresholds"]).groups(images, labels).numpy()
    frame = audit_samples([0.5, 0.5], groups=groups, posteriors=post, held_out=held_out_pairs(info),
                          classes=labels.numpy(), names=info["groups"])  # fmt: skip
    share = DARK / (DARK + LIGHT)
    assert frame.overall["reading"] == "auditor" and frame.shares[0] == pytest.approx(share)
    assert frame.difference() == pytest.approx(abs(1 - 2 * share))
    assert frame.max_over_min() == pytest.approx(LIGHT / DARK)
    as_written = json.loads(json.dumps(frame.to_dict()))  # JSON's lists for tuples
    for key in ("probe_corrected", "auditor", "probe_hard", "by_class", "overall"):
        assert as_written[key] == report[key], key
    alone = audit_samples([0.5, 0.5], posteriors=post, held_out=held_out_pairs(info))  # no auditor: corrected
    assert alone.overall["reading"] == "probe_corrected" and "auditor" not in alone.to_dict()
    assert report["probe_corrected"]["low"][0] <= alone.shares[0] <= report["probe_corrected"]["high"][0]


def test_a_probe_trained_from_a_labelled_folder_audits_a_sample_set(tmp_path, sample_set, folder_audit):
    """A user's own attribute: ``fairness probe --data`` (one sub-folder per group), then an audit with it;
    no auditor reads it, so its error-corrected shares are the estimate and must cover the known truth."""
    test = load_images(DataConfig(), "test")
    images, labels = test.float(slice(3000, 5000)), test.labels[3000:5000]
    info = json.loads((PROBE / "probe.json").read_text())
    groups = ToneRule(info["tone_thresholds"]).groups(images, labels).numpy()
    data = tmp_path / "shade"
    for name, g in (("dark", 0), ("light", 1)):
        chosen = np.flatnonzero(groups == g)[:300]
        _folder(data / name, images[chosen], torch.zeros(len(chosen), dtype=torch.long))
        for png in (data / name / "0").iterdir():
            png.rename(data / name / png.name)
        (data / name / "0").rmdir()
    probe = tmp_path / "probe-shade"
    assert main(["fairness", "probe", "--data", str(data), "--rae", str(ASSETS / "runs" / "rae-fmnist"),
                 "--out", str(probe), "train.steps=200", "train.batch_size=128"]) == 0  # fmt: skip
    record = json.loads((probe / "probe.json").read_text())
    assert record["groups"] == ["dark", "light"] and record["spec"]["attribute"] == "shade"
    assert len(record["held_out_true"]) == 150 and record["held_out_accuracy"] > 0.8
    out = tmp_path / "audit"
    assert main(["fairness", "audit", "--images", str(folder_audit[1]), "--probe", str(probe), "--out", str(out)]) == 0
    report = json.loads((out / "artifacts" / "audit.json").read_text())
    assert "auditor" not in report and report["overall"]["reading"] == "probe_corrected"
    low, high = report["probe_corrected"]["low"][0], report["probe_corrected"]["high"][0]
    assert low <= DARK / (DARK + LIGHT) <= high
    assert (out / "artifacts" / "samples.png").is_file()


@pytest.mark.parametrize("case", ["missing folder", "wrong size", "missing probe", "bad class folder"])
def test_bad_input_is_one_line_and_makes_no_folder(tmp_path, monkeypatch, capsys, case):
    monkeypatch.chdir(tmp_path)
    images, probe = tmp_path / "samples", PROBE
    if case == "wrong size":
        np.savez(tmp_path / "big.npz", images=np.zeros((4, 32, 32), np.uint8))
        images = tmp_path / "big.npz"
    elif case == "missing probe":
        images.mkdir()
        Image.fromarray(np.zeros((28, 28), np.uint8)).save(images / "a.png")
        probe = tmp_path / "no-probe"
    elif case == "bad class folder":
        (images / "hats").mkdir(parents=True)
        Image.fromarray(np.zeros((28, 28), np.uint8)).save(images / "hats" / "a.png")
    code = main(["fairness", "audit", "--images", str(images), "--probe", str(probe)])
    err = capsys.readouterr().err.strip()
    expected = {
        "missing folder": "samples: expected a folder",
        "wrong size": "images of shape (1, 32, 32)",
        "missing probe": "no-probe: not a probe folder",
        "bad class folder": "hats: a class sub-folder",
    }[case]
    assert code == 2 and "\n" not in err and expected in err, err
    assert not (tmp_path / "runs").exists()


def test_an_unknown_fair_mode_is_refused_by_the_audit_and_ratio_defaults_are_the_validated_setting():
    from replab.cli import _audit_config, build_parser
    from replab.errors import ConfigError
    from replab.fairness.ratio import RatioOptions

    with pytest.raises(ConfigError, match="fair=x: expected one of none, balanced"):
        _audit_config(build_parser().parse_args(["fairness", "audit", "--run", "r", "--probe", "p", "--fair", "x"]))
    args = build_parser().parse_args(["fairness", "audit", "--run", "r", "--probe", "p", "--fair", "ratio"])
    assert _audit_config(args).ratio == RatioOptions() and _audit_config(args).guide_scale == 8.0
    validated = RatioOptions()
    assert (validated.against, validated.model, validated.class_quota, validated.l2, validated.reference_n) == (
        "training", "mixture", True, 1e-3, 2000)  # fmt: skip
    args = build_parser().parse_args(["fairness", "audit", "--run", "r", "--probe", "p", "ratio.power=auto"])
    assert _audit_config(args).ratio.power == "auto"


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("case", ["missing probe", "another encoder's probe", "missing target", "wrong target"])
def test_bad_input_to_a_run_audit_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys, case):
    """On the shipped run (inside the package): no folder under ./runs, nothing new in the package."""
    monkeypatch.chdir(tmp_path)
    run = ASSETS / "runs" / "dit-dh-tone10x"
    before = _tree(run)
    probe, extra = PROBE, []
    if case == "missing probe":
        probe = tmp_path / "no-probe"
    elif case == "another encoder's probe":
        probe = tmp_path / "other"
        probe.mkdir()
        for name in ("probe.json", "probe.safetensors"):
            (probe / name).write_bytes((PROBE / name).read_bytes())
        record = json.loads((probe / "probe.json").read_text())
        (probe / "probe.json").write_text(json.dumps({**record, "fingerprint": "0" * 16}))
    else:
        extra = ["--target", str(tmp_path / "shares.json") if case == "missing target" else "[0.2, 0.3, 0.5]"]
    code = main(["fairness", "audit", "--run", str(run), "--probe", str(probe), "--n", "10", *extra])
    err = capsys.readouterr().err.strip()
    expected = {
        "missing probe": "no-probe: not a probe folder",
        "another encoder's probe": "trained on the tokens of",
        "missing target": "shares.json: expected uniform, reference, a JSON list of 2 shares or a JSON file",
        "wrong target": "--target [0.2, 0.3, 0.5]",
    }[case]
    assert code == 2 and "\n" not in err and expected in err, err
    assert not (tmp_path / "runs").exists() and _tree(run) == before
