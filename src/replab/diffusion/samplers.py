"""ODE samplers for the velocity field, with classifier-free guidance (over a t-interval) and AutoGuidance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from replab.core.errors import ConfigError

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t, t) → v


@dataclass
class GuidanceConfig:
    cfg_scale: float = 1.0  # 1 = no classifier-free guidance
    cfg_interval: tuple[float, float] = (0.0, 1.0)  # guide only for t in [a, b]
    ag_scale: float = 1.0  # AutoGuidance scale; used when a weak model is given


def guided_velocity(
    model, y: torch.Tensor | None, guidance: GuidanceConfig, weak_model=None, null_label: int | None = None
) -> Velocity:
    """Compose the velocity the sampler integrates.

    - CFG: v = v_uncond + s·(v_cond − v_uncond) for t inside the interval, v_cond outside.
    - AutoGuidance: v = v_weak + s·(v − v_weak), with a smaller or less-trained model of the same latents.
    """
    use_cfg = guidance.cfg_scale != 1.0
    if use_cfg and (y is None or null_label is None):
        raise ConfigError("--cfg needs a class-conditional model")
    if use_cfg and weak_model is not None:
        raise ConfigError("choose either CFG or AutoGuidance, not both")
    low, high = guidance.cfg_interval

    def velocity(x: torch.Tensor, t: float) -> torch.Tensor:
        tt = torch.full((len(x),), float(t), device=x.device)
        v = model(x, tt, y)
        if use_cfg and low <= t <= high:
            v_uncond = model(x, tt, torch.full_like(y, null_label))
            v = v_uncond + guidance.cfg_scale * (v - v_uncond)
        if weak_model is not None:
            v_weak = weak_model(x, tt, y)
            v = v_weak + guidance.ag_scale * (v - v_weak)
        return v

    return velocity


@torch.no_grad()
def euler(velocity, noise: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """x_{t'} = x_t + (t' − t)·v(x_t, t) along the grid from t = 1 to t = 0."""
    x = noise
    for t, t_next in zip(grid[:-1].tolist(), grid[1:].tolist()):
        x = x + (t_next - t) * velocity(x, t)
    return x


@torch.no_grad()
def heun(velocity, noise: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Second-order Heun; the last step (to t = 0) is plain Euler."""
    x = noise
    for t, t_next in zip(grid[:-1].tolist(), grid[1:].tolist()):
        v = velocity(x, t)
        x_euler = x + (t_next - t) * v
        if t_next == 0:
            x = x_euler
        else:
            x = x + (t_next - t) * 0.5 * (v + velocity(x_euler, t_next))
    return x


SAMPLERS = {"euler": euler, "heun": heun}
