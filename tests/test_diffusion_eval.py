import os

import numpy as np
import pytest

from replab.diffusion.latents import latents_path
from replab.diffusion.sample import resolve_rae
from replab.metrics.prdc import precision_recall


def test_precision_recall_of_identical_and_disjoint_sets():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 4))
    assert precision_recall(real, real.copy()) == (1.0, 1.0)
    far = real + 100.0
    assert precision_recall(real, far) == (0.0, 0.0)


def test_precision_recall_of_mode_collapse():
    rng = np.random.default_rng(1)
    real = np.concatenate([rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 20])
    collapsed = rng.normal(size=(400, 2)) * 0.5  # covers only the first mode
    precision, recall = precision_recall(real, collapsed)
    assert precision > 0.9 and recall < 0.6


def test_latents_of_a_read_only_rae_run_go_to_the_cache(tmp_path, monkeypatch):
    if os.geteuid() == 0:
        monkeypatch.setattr(os, "access", lambda path, mode: False)  # root can write anywhere
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    shipped.chmod(0o555)
    monkeypatch.setenv("REPLAB_CACHE", str(tmp_path / "cache"))
    path = latents_path(shipped, "train")
    assert str(path).startswith(str(tmp_path / "cache")) and path.name == "train.safetensors"
    shipped.chmod(0o755)


def test_relative_rae_paths_resolve_against_the_run_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "rae").mkdir(parents=True)
    assert resolve_rae("runs/rae", tmp_path / "elsewhere") == tmp_path.joinpath("runs/rae").relative_to(tmp_path)
    assert resolve_rae("../rae-fmnist", tmp_path / "assets" / "dit") == tmp_path / "assets" / "dit" / "../rae-fmnist"


@pytest.mark.parametrize("features", ["inception"])
def test_inception_features_need_a_download(features, tmp_path):
    from replab.core.errors import ConfigError
    from replab.diffusion.evaluate import evaluate_fd

    with pytest.raises(ConfigError, match="Inception"):
        evaluate_fd(tmp_path, features=features)
