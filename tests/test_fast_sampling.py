"""Sampling's two numerics on the shipped DiT-DH-XS: ``exact`` is the pre-fast-path sampler, written out here
step by step and matched bit for bit; the fast path (fused CFG, oneDNN linears, bf16 where the CPU has bf16
units) draws the same samples from the same noise up to a small, stated difference."""

import dataclasses

import torch

from replab import ASSETS
from replab.diffusion.sample import generate, load_diffusion
from replab.diffusion.samplers import GuidanceConfig
from replab.diffusion.transport import Transport

N, STEPS, CFG, SEED = 40, 8, 5.0, 3  # 40: the fast path integrates it in two parts


def _written_out(model, rae, config, labels: torch.Tensor) -> torch.Tensor:
    """The exact sampler by hand: the seeded noise, Euler from t = 1 to 0, CFG as two default-fp32 calls."""
    grid = Transport(config.transport, rae.latent_shape).grid(STEPS)
    x = torch.randn((N, *rae.latent_shape), generator=torch.Generator().manual_seed(SEED))
    with torch.no_grad():
        for t, t_next in zip(grid[:-1].tolist(), grid[1:].tolist()):
            tt = torch.full((N,), float(t))
            v, v_uncond = model(x, tt, labels), model(x, tt, torch.full_like(labels, model.null_label))
            x = x + (t_next - t) * (v_uncond + CFG * (v - v_uncond))
        return rae.decode(x)


def test_exact_sampling_is_todays_sampler_bit_for_bit_and_fast_sampling_draws_the_same_images():
    model, config, rae = load_diffusion(ASSETS / "runs" / "dit-dh-fmnist")
    labels = torch.arange(N) % 10
    exact = GuidanceConfig(steps=STEPS, cfg_scale=CFG, exact=True)
    slow = generate(model, rae, config, n=N, labels=labels, guidance=exact, seed=SEED)
    assert torch.equal(slow, _written_out(model, rae, config, labels))
    fast = generate(model, rae, config, n=N, labels=labels, guidance=dataclasses.replace(exact, exact=False),
                    seed=SEED)  # fmt: skip
    assert fast.dtype == torch.float32 and fast.shape == slow.shape
    difference = (fast - slow).abs()
    assert difference.mean() < 0.01 and difference.flatten(1).mean(1).max() < 0.03  # per image, pixels in [0, 1]
    assert abs(fast.mean() - slow.mean()) < 0.005
