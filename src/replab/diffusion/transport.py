"""Flow matching with the RAE time convention: t = 0 is data, t = 1 is noise.

    x_t = (1 − t)·x + t·ε,   target v = ε − x,   loss = ‖v_θ(x_t, t) − v‖²

Training times are logit-normal (σ(N(μ, s²))). The dimension-dependent shift of the RAE paper
maps t ↦ α·t / (1 + (α − 1)·t) with α = sqrt(m / base), m = tokens × channels, base = 4096; it is
applied to training times and to the sampling grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class TransportConfig:
    shift: bool = True
    shift_base: int = 4096  # m at which α = 1
    logit_mean: float = 0.0
    logit_std: float = 1.0


def shift_alpha(tokens: int, channels: int, base: int = 4096) -> float:
    return math.sqrt(tokens * channels / base)


def time_shift(t: torch.Tensor, alpha: float) -> torch.Tensor:
    """Monotone map of [0, 1] onto itself with 0 → 0 and 1 → 1; α > 1 moves time towards noise."""
    return alpha * t / (1 + (alpha - 1) * t)


class Transport:
    def __init__(self, config: TransportConfig, latent_shape: tuple[int, int, int]) -> None:
        channels, h, w = latent_shape
        self.config = config
        self.alpha = shift_alpha(h * w, channels, config.shift_base) if config.shift else 1.0

    def sample_t(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        u = torch.randn(n, generator=generator) * self.config.logit_std + self.config.logit_mean
        return time_shift(torch.sigmoid(u), self.alpha)

    def loss(
        self, model, x: torch.Tensor, y: torch.Tensor | None, t: torch.Tensor, noise: torch.Tensor
    ) -> torch.Tensor:
        """Mean squared velocity error at times ``t`` (from ``sample_t``) with the given noise."""
        t4 = t.view(-1, 1, 1, 1)
        x_t = (1 - t4) * x + t4 * noise
        v = model(x_t, t, y)
        return (v.float() - (noise - x)).pow(2).mean()

    def grid(self, steps: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """``steps + 1`` times from 1 (noise) to 0 (data), shifted like the training times."""
        return time_shift(torch.linspace(1.0, 0.0, steps + 1, device=device), self.alpha)
