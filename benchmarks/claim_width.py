"""RAE paper claim 1, small: a diffusion transformer fits even a single latent only when its width is
at least the token dimension.

One Fashion-MNIST latent of the shipped RAE (7×7 tokens of 128 channels) is the whole training set.
DiTs of depth 2 with widths below and above 128 are trained by flow matching on it for the same number
of steps; reported: the final training loss and the relative error of a 50-step Euler sample against
the latent (0 = the latent is reproduced).

    .venv/bin/python benchmarks/claim_width.py [--rae src/replab/assets/runs/rae-fmnist] [--steps 400]
"""

from __future__ import annotations

import argparse

import torch

from replab.core.data import DataConfig, load_images
from replab.diffusion.models import DiT, DiTSpec
from replab.diffusion.samplers import GuidanceConfig, euler, guided_velocity
from replab.diffusion.transport import Transport, TransportConfig
from replab.rae.model import load_rae


def fit_single(latent: torch.Tensor, width: int, steps: int, batch: int = 32, seed: int = 0) -> tuple[float, float]:
    torch.manual_seed(seed)
    channels, grid = latent.shape[0], latent.shape[1]
    model = DiT(DiTSpec(width, 2, max(1, width // 32)), channels, grid)
    transport = Transport(TransportConfig(), tuple(latent.shape))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    x = latent.expand(batch, -1, -1, -1)
    losses = []
    for _ in range(steps):
        t, noise = transport.sample_t(batch, gen), torch.randn(x.shape, generator=gen)
        loss = transport.loss(model, x, None, t, noise)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    sample = euler(guided_velocity(model, None, GuidanceConfig()), torch.randn((4, *latent.shape), generator=gen),
                   transport.grid(50))  # fmt: skip
    error = ((sample - latent).pow(2).mean() / latent.pow(2).mean()).item()
    return sum(losses[-20:]) / 20, error


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rae", default="src/replab/assets/runs/rae-fmnist")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--widths", default="32,64,96,128,192,256")
    args = parser.parse_args()
    rae, config = load_rae(args.rae)
    image = load_images(DataConfig(limit=1), "train").float()
    latent = rae.encode(image)[0]
    print(f"one latent {tuple(latent.shape)} (token dimension {latent.shape[0]}), {args.steps} steps, batch 32")
    print(f"{'width':>6} {'final loss':>11} {'sample rel. error':>18}")
    for width in (int(w) for w in args.widths.split(",")):
        loss, error = fit_single(latent, width, args.steps)
        print(f"{width:>6} {loss:>11.4f} {error:>18.4f}")


if __name__ == "__main__":
    main()
