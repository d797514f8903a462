"""The shipped fair-diffusion benchmark generator (DiT-DH-XS trained on tone-10x) and its two probes."""

from pathlib import Path

import numpy as np

from replab.diffusion.sample import load_diffusion, resolve_rae
from replab.diffusion.samplers import GuidanceConfig
from replab.fairness.probe import load_probe
from replab.fairness.real_images import training_shares
from replab.fairness.sample import fair_generate

ASSETS = Path(__file__).resolve().parents[1] / "src/replab/assets"
RUN = ASSETS / "runs/dit-dh-tone10x"


def test_shipped_tone10x_generator_loads_with_its_probes_and_its_skewed_training_shares():
    model, config, rae = load_diffusion(RUN)
    rae_run = resolve_rae(config.rae, RUN)
    assert rae_run.resolve() == (ASSETS / "runs/rae-fmnist").resolve()
    probe, info = load_probe(ASSETS / "probes/tone", rae_run)  # refuses a probe of another encoder
    steering, steering_info = load_probe(ASSETS / "probes/tone-noise-aware", rae_run)
    assert info["groups"] == steering_info["groups"] == ["dark", "light"] and steering.spec.noise_aware
    shares = training_shares(config, "tone", 2, RUN)
    assert abs(shares[0] - 0.092) < 0.005 and np.isclose(shares.sum(), 1.0)

    images, labels, cost = fair_generate(
        model, rae, config, n=4, mode="guidance", target=np.array([0.5, 0.5]),
        guidance=GuidanceConfig(steps=3, cfg_scale=5.0), guide_probe=steering, guide_scale=8.0,
    )  # fmt: skip
    assert images.shape == (4, 1, 28, 28) and labels.tolist() == [0, 1, 2, 3]
    assert sorted(cost["assigned"]) == [0, 0, 1, 1]


def test_shipped_assets_stay_within_the_30_mb_budget():
    """Everything under assets/ but the latent caches an RAE writes beside itself (git-ignored)."""
    files = [p for p in ASSETS.rglob("*") if p.is_file() and "latents" not in p.relative_to(ASSETS).parts]
    assert sum(p.stat().st_size for p in files) <= 30_000_000
