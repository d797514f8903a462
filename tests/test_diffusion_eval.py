import json
import os
from pathlib import Path

import numpy as np
import pytest

from replab.diffusion.sample import resolve_rae
from replab.metrics.prdc import precision_recall
from replab.rae.latent_cache import latents_path


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


def test_inception_fid_without_a_library_says_what_to_install(monkeypatch):
    import sys

    import torch

    from replab.errors import ConfigError
    from replab.metrics.inception import inception_fid

    monkeypatch.setitem(sys.modules, "torch_fidelity", None)  # None in sys.modules makes the import fail
    monkeypatch.setitem(sys.modules, "cleanfid", None)
    with pytest.raises(ConfigError, match="torch-fidelity or clean-fid"):
        inception_fid(torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8))


def test_inception_fid_hands_uint8_rgb_images_to_torch_fidelity(monkeypatch):
    import sys
    import types

    import torch

    from replab.metrics.inception import inception_fid

    seen = {}

    def fake_calculate_metrics(input1, input2, fid, kid, prc, kid_subset_size, cuda, verbose):  # a test fake only
        seen.update(first=input1[0], n=(len(input1), len(input2)), fid=fid, asked=(kid, prc, kid_subset_size))
        return {"frechet_inception_distance": 12.5, "kernel_inception_distance_mean": 0.01,
                "kernel_inception_distance_std": 0.002, "precision": 0.7, "recall": 0.6}  # fmt: skip

    monkeypatch.setitem(sys.modules, "torch_fidelity", types.SimpleNamespace(calculate_metrics=fake_calculate_metrics))
    value, library = inception_fid(torch.ones(3, 1, 8, 8), torch.zeros(5, 1, 8, 8))
    assert (value, library) == (12.5, "torch-fidelity")
    assert seen["n"] == (3, 5) and seen["fid"] is True and seen["asked"] == (True, True, 3)  # one pass, all three
    from replab.metrics.inception import inception_metrics

    metrics, _ = inception_metrics(torch.ones(3, 1, 8, 8), torch.zeros(5, 1, 8, 8))
    assert metrics == {"FID": 12.5, "KID": 0.01, "KID_std": 0.002, "precision_inception": 0.7, "recall_inception": 0.6}
    assert seen["first"].dtype == torch.uint8 and seen["first"].shape == (3, 8, 8) and seen["first"].max() == 255


def test_unknown_feature_network_is_refused(tmp_path):
    from replab.diffusion.evaluate import evaluate_fd
    from replab.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown; valid: fd-fmnist, inception"):
        evaluate_fd(tmp_path, features="vgg")


@pytest.mark.parametrize("command", ["diffusion sample --run r --out g.png", "eval fd --run r"])
def test_sample_and_fd_share_the_guidance_options(command):
    from replab.cli import _guidance, build_parser
    from replab.errors import ConfigError

    args = build_parser().parse_args([*command.split(), "--cfg", "2", "--cfg-interval", "0.1,0.9", "--sampler", "heun"])
    assert args.sampler == "heun"
    guidance = _guidance(args)
    assert (guidance.cfg_scale, guidance.cfg_interval) == (2.0, (0.1, 0.9))
    for bad in ("0.9,0.1", "a,b", "0.5"):
        with pytest.raises(ConfigError, match="--cfg-interval"):
            _guidance(build_parser().parse_args([*command.split(), "--cfg-interval", bad]))


def test_latents_are_encoded_again_when_the_rae_run_changes(tmp_path, monkeypatch):
    import torch
    from safetensors.torch import save_file

    from replab.rae import latent_cache as latents_module

    calls = []

    def fake_encode_split(rae_run, split, limit=0, batch_size=500):  # a test fake: no encoder needed
        calls.append(split)
        return torch.full((4, 2, 1, 1), float(len(calls))).half(), torch.arange(4)

    monkeypatch.setattr(latents_module, "encode_split", fake_encode_split)
    rae = tmp_path / "rae"
    rae.mkdir()
    save_file({"mean": torch.zeros(2)}, str(rae / "latent_stats.safetensors"))
    first, _ = latents_module.load_or_encode(rae, "train")
    again, _ = latents_module.load_or_encode(rae, "train")
    assert len(calls) == 1 and torch.equal(first, again)  # cached, fingerprint matches

    save_file({"mean": torch.ones(2)}, str(rae / "latent_stats.safetensors"))  # a new RAE at the same path
    renewed, _ = latents_module.load_or_encode(rae, "train")
    assert len(calls) == 2 and renewed[0, 0, 0, 0] == 2.0


SHIPPED_DIT = Path(__file__).resolve().parents[1] / "src/replab/assets/runs/dit-dh-fmnist"


def fd_of_shipped(out: str) -> None:
    from replab.diffusion.evaluate import evaluate_fd
    from replab.diffusion.samplers import GuidanceConfig

    results = evaluate_fd(SHIPPED_DIT, n=30, out=out, batch_size=8, guidance=GuidanceConfig(steps=3, cfg_scale=3.0))
    if results:
        Path(out, "rank0.json").write_text(json.dumps(results))


def test_fd_evaluation_split_over_two_gloo_ranks_equals_one_process(tmp_path):
    from tests.conftest import spawn_ddp

    fd_of_shipped(str(tmp_path / "single"))
    spawn_ddp(2, fd_of_shipped, str(tmp_path / "ddp"))
    single = json.loads((tmp_path / "single" / "rank0.json").read_text())
    split = json.loads((tmp_path / "ddp" / "rank0.json").read_text())
    assert split.keys() == single.keys()
    for key, value in single.items():
        assert split[key] == pytest.approx(value, rel=1e-5) if isinstance(value, float) else split[key] == value
