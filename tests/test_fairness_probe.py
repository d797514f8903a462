"""The attribute probe on a tiny RAE run: trained, saved with its held-out errors and encoder fingerprint."""

import json

import pytest
import torch

from replab.core.config import load_config
from replab.errors import ConfigError
from replab.fairness.probe import AttributeProbe, ProbeConfig, ProbeSpec, load_probe, train_probe
from replab.rae.model import RAEConfig
from replab.rae.train import train_rae
from tests.rae_helpers import TINY_RAE


def _rae(encoder, out, *extra):
    return train_rae(load_config(RAEConfig, "rae", "fmnist", [*TINY_RAE, f"encoder.weights={encoder}", "train.steps=1",
                                                               *extra]), out)  # fmt: skip


def test_probe_records_its_errors_and_refuses_another_encoder(tiny_local_vit, tmp_path):
    rae = _rae(tiny_local_vit, tmp_path / "rae")
    config = load_config(ProbeConfig, "fairness", "tone", [f"rae={rae}", "train.steps=20", "train.batch_size=16",
                                                             "train.threads=1", "train.warmup_steps=2"])  # fmt: skip
    folder = train_probe(config, tmp_path / "probe")
    probe, info = load_probe(folder, rae)
    assert info["groups"] == ["dark", "light"] and len(info["held_out_true"]) == 24  # a quarter of 96
    assert torch.tensor(info["confusion"]).sum(1).allclose(torch.ones(2))
    assert probe(torch.randn(3, 32, 7, 7)).shape == (3, 2)
    other = _rae(tiny_local_vit, tmp_path / "other", "stats_images=32")  # other statistics: other latents
    with pytest.raises(ConfigError, match="fingerprint"):
        load_probe(folder, other)
    assert json.loads((folder / "probe.json").read_text())["fingerprint"] != ""


def test_probe_on_reconstructions_reads_decoded_images(tiny_local_vit, tmp_path):
    rae = _rae(tiny_local_vit, tmp_path / "rae")
    config = load_config(ProbeConfig, "fairness", "tone", [f"rae={rae}", "train.steps=4", "train.batch_size=16",
                                                             "train.threads=1", "inputs=reconstructed"])  # fmt: skip
    _, info = load_probe(train_probe(config, tmp_path / "probe"), rae)
    assert info["inputs"] == "reconstructed" and len(info["held_out_true"]) == 24
    from replab.fairness.probe import _reconstructed
    from replab.rae.latent_cache import load_or_encode
    from replab.rae.model import load_rae

    latents = load_or_encode(rae, "train")[0][:5]
    tokens, images = _reconstructed(str(rae), latents)
    model = load_rae(rae)[0]
    assert torch.allclose(images, model.decode(latents)) and torch.allclose(tokens, model.encode(images))
    assert not torch.allclose(tokens, latents, atol=1e-3)  # the round trip is not the identity
    with pytest.raises(ConfigError, match="inputs: unknown 'noisy'"):
        train_probe(load_config(ProbeConfig, "fairness", "tone", [f"rae={rae}", "inputs=noisy"]), tmp_path / "x")


def test_noise_aware_probe_needs_the_time():
    probe = AttributeProbe(8, 2, ProbeSpec(noise_aware=True, hidden=16))
    assert probe(torch.randn(2, 8, 3, 3), torch.rand(2)).shape == (2, 2)
    with pytest.raises(ConfigError, match="time"):
        probe(torch.randn(2, 8, 3, 3))


def test_audit_of_a_tiny_run(tiny_local_vit, tmp_path, capsys):
    import numpy as np

    from replab.cli import main
    from replab.diffusion.train import train_diffusion
    from tests.diffusion_helpers import tiny_config

    rae = _rae(tiny_local_vit, tmp_path / "rae")
    overrides = [f"rae={rae}", "train.steps=5", "train.threads=1", "train.batch_size=16"]
    probe = train_probe(load_config(ProbeConfig, "fairness", "tone", overrides), tmp_path / "probe")
    dit = train_diffusion(tiny_config(rae, "model.name=DiT-DH-tiny"), tmp_path / "dit")
    assert main(["fairness", "audit", "--run", str(dit), "--probe", str(probe), "--n", "40", "--steps", "2",
                 "--out", str(tmp_path / "audit")]) == 0  # fmt: skip
    report = json.loads((tmp_path / "audit" / "artifacts" / "audit.json").read_text())
    a = report["auditor"]
    assert np.isclose(sum(a["p"]), 1) and len(a["share_ci"]) == 2 and a["interval"] == "wilson"
    assert report["target"] == [0.5, 0.5]
    assert (
        a["fairness_discrepancy"]["ci"][0] <= a["fairness_discrepancy"]["value"] <= a["fairness_discrepancy"]["ci"][1]
    )
    assert {"estimate"} <= set(report["probe_corrected"]) or "refused" in report["probe_corrected"]
    assert (tmp_path / "audit" / "artifacts" / "audit.png").exists()
    code = main(["fairness", "audit", "--run", str(dit), "--probe", str(probe), "--n", "20", "--steps", "2",
                 "--fair", "resample", "--out", str(tmp_path / "fair")])  # fmt: skip
    if code == 0:  # a 5-step probe may be too weak to invert: then a clean refusal, never a traceback
        fair = json.loads((tmp_path / "fair" / "artifacts" / "audit.json").read_text())
        assert fair["fair"] == "resample" and fair["mitigation"]["draws_per_kept"] >= 1
    else:
        assert "replab: error:" in capsys.readouterr().err
    noisy = train_probe(load_config(ProbeConfig, "fairness", "tone", [*overrides, "probe.noise_aware=true"]),
                        tmp_path / "noisy")  # fmt: skip
    assert main(["fairness", "audit", "--run", str(dit), "--probe", str(probe), "--n", "12", "--steps", "3",
                 "--fair", "guidance", "--guide-probe", str(noisy), "--guide-scale", "2",
                 "--out", str(tmp_path / "guided")]) == 0  # fmt: skip
    guided = json.loads((tmp_path / "guided" / "artifacts" / "audit.json").read_text())
    assert 0 <= guided["mitigation"]["hit_rate"] <= 1 and "assigned" not in guided["mitigation"]
    assert main(["fairness", "audit", "--run", str(dit), "--probe", str(probe), "--fair", "guidance",
                 "--guide-probe", str(probe), "--out", str(tmp_path / "g2")]) != 0  # fmt: skip
    assert "noise-aware probe" in capsys.readouterr().err
    assert main(["diffusion", "sample", "--run", str(dit), "--n", "12", "--steps", "2", "--fair", "ratio",
                 "--probe", str(probe), "ratio.reference_n=40", "ratio.training_n=30",
                 "--out", str(tmp_path / "ratio.png")]) == 0  # fmt: skip
    assert json.loads((tmp_path / "ratio.json").read_text())["draws_per_kept"] >= 1
    assert main(["diffusion", "sample", "--run", str(dit), "--n", "10", "--steps", "2", "--fair", "ratio",
                 "--probe", str(probe), "ratio.reference_n=40", "ratio.l2=0.002", "ratio.cap_quantile=0.995",
                 "ratio.training_n=30", "ratio.power=2", "--out", str(tmp_path / "quota.png")]) == 0  # fmt: skip
    quota = json.loads((tmp_path / "quota.json").read_text())
    assert quota["class_quota"] and quota["l2"] == 0.002 and quota["cap_quantile"] == 0.995  # defaults + overrides
    assert quota["against"] == "training" and quota["training_n"] == 30
    assert quota["power"] == 2.0 and quota["power_used"] == 2.0
    assert quota["model"] == "mixture" and sum(quota["latent_shares"]) == pytest.approx(1.0, abs=1e-5)
    from replab.fairness.tradeoff import pareto_front

    points = [{"fairness_discrepancy": d, "fd_fmnist": f} for d, f in [(0.1, 5), (0.2, 4), (0.3, 6), (0.1, 5)]]
    assert pareto_front(points) == [0, 1, 3]  # (0.3, 6) is beaten; ties both stay
    with pytest.warns(UserWarning, match="fewer than 5 samples expected"):
        main(["fairness", "audit", "--run", str(dit), "--probe", str(probe), "--n", "8", "--steps", "2",
              "--out", str(tmp_path / "small")])  # fmt: skip
    (tmp_path / "t.json").write_text("[0.7, 0.2]")
    assert main(["fairness", "audit", "--run", str(dit), "--probe", str(probe), "--target", str(tmp_path / "t.json"),
                 "--out", str(tmp_path / "a2")]) != 0  # fmt: skip
    assert "the target sums to 0.90000000, not 1" in capsys.readouterr().err
