"""``replab fairness audit --images``: any generator's samples, audited without the generator. The sample
set here is real Fashion-MNIST test images whose dark share is chosen by the shipped tone probe's pixel
rule, so the auditor must report it exactly and the probe-corrected interval must cover it."""

import json
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


def test_a_folder_and_an_npz_of_the_same_images_report_the_known_share(tmp_path, sample_set, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    images, labels = sample_set
    folder = _folder(tmp_path / "samples", images, labels)
    assert main(["fairness", "audit", "--images", str(folder), "--probe", str(PROBE)]) == 0
    assert "over 200 samples" in capsys.readouterr().out
    report = json.loads((tmp_path / "runs" / "samples-fairness" / "artifacts" / "audit.json").read_text())
    assert report["n"] == DARK + LIGHT and report["auditor"]["p"][0] == pytest.approx(DARK / (DARK + LIGHT))
    low, high = report["probe_corrected"]["low"][0], report["probe_corrected"]["high"][0]
    assert low <= DARK / (DARK + LIGHT) <= high
    assert "amplification" not in report and "generator" in report["absent"]["amplification"]
    assert len(report["by_class"]) == len(set(labels.tolist()))
    files = sorted(folder.glob("*/*.png"))  # the folder's order: class sub-folders, then names
    pixels = np.stack([np.asarray(Image.open(p)) for p in files])
    np.savez(tmp_path / "samples.npz", images=pixels, labels=np.array([int(p.parent.name) for p in files]))
    assert main(["fairness", "audit", "--images", str(tmp_path / "samples.npz"), "--probe", str(PROBE),
                 "--out", str(tmp_path / "npz-audit")]) == 0  # fmt: skip
    again = json.loads((tmp_path / "npz-audit" / "artifacts" / "audit.json").read_text())
    assert again["auditor"]["p"] == report["auditor"]["p"]
    assert again["probe_corrected"] == report["probe_corrected"]


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


def test_fair_modes_are_choices_at_parse_time_and_ratio_defaults_are_the_validated_setting(capsys):
    from replab.cli import FAIR_CHOICES, _ratio_options, build_parser
    from replab.fairness import FAIR_MODES
    from replab.fairness.mitigate import RatioOptions

    assert FAIR_CHOICES == FAIR_MODES
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fairness", "audit", "--run", "r", "--probe", "p", "--fair", "fairest"])
    assert "invalid choice: 'fairest'" in capsys.readouterr().err
    args = build_parser().parse_args(["fairness", "audit", "--run", "r", "--probe", "p", "--fair", "ratio"])
    assert _ratio_options(args) == RatioOptions() and args.guide_scale == 8.0
    validated = RatioOptions()
    assert (validated.against, validated.model, validated.class_quota, validated.l2, validated.reference_n) == (
        "training", "mixture", True, 1e-3, 2000)  # fmt: skip
    args = build_parser().parse_args(["fairness", "audit", "--run", "r", "--probe", "p", "ratio.power=auto"])
    assert _ratio_options(args).power == "auto"
