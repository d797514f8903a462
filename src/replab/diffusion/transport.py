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

from replab.errors import ConfigError

TIME_DISTRIBUTIONS = ("logit-normal", "uniform")
GRIDS = ("replab", "official-rae")


@dataclass
class TransportConfig:
    shift: bool = True
    shift_base: int = 4096  # m at which α = 1
    time_dist: str = "logit-normal"  # training times before the shift: logit-normal | uniform
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
        if self.config.time_dist == "uniform":
            return time_shift(torch.rand(n, generator=generator), self.alpha)
        if self.config.time_dist != "logit-normal":
            raise ConfigError(
                f"transport.time_dist: unknown '{self.config.time_dist}'; valid: {', '.join(TIME_DISTRIBUTIONS)}"
            )
        u = torch.randn(n, generator=generator) * self.config.logit_std + self.config.logit_mean
        return time_shift(torch.sigmoid(u), self.alpha)

    def loss(
        self, model, x: torch.Tensor, y: torch.Tensor | None, t: torch.Tensor, noise: torch.Tensor, **model_kwargs
    ) -> torch.Tensor:
        """Mean squared velocity error at times ``t`` (from ``sample_t``) with the given noise."""
        t4 = t.view(-1, 1, 1, 1)
        x_t = (1 - t4) * x + t4 * noise
        v = model(x_t, t, y, **model_kwargs)
        return (v.float() - (noise - x)).pow(2).mean()

    def grid(
        self, steps: int, device: torch.device | str = "cpu", schedule: str = "replab", extra_shift: float = 1.0
    ) -> torch.Tensor:
        """The sampling times, shifted like the training times.

        - ``replab``: ``steps + 1`` times from 1 (noise) to 0 (data): ``steps`` ODE steps; ``extra_shift``
          multiplies the shift (> 1 puts more steps near noise, < 1 near data).
        - ``official-rae``: the official ODE sampler's grid, ``steps`` times from 1 to 1 − 1/1000 mirrored,
          i.e. ``1 − linspace(0, 0.999, steps)``: ``steps − 1`` ODE steps, stopping at shift(0.001) > 0.
        """
        if schedule == "official-rae":
            if steps < 2:
                raise ConfigError("sample.steps: the official grid needs at least 2 points")
            return time_shift(1 - torch.linspace(0.0, 1 - 1 / 1000, steps, device=device), self.alpha)
        if schedule != "replab":
            raise ConfigError(f"sample.schedule: unknown '{schedule}'; valid: {', '.join(GRIDS)}")
        return time_shift(torch.linspace(1.0, 0.0, steps + 1, device=device), self.alpha * extra_shift)
