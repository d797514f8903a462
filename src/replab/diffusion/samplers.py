"""ODE samplers for the velocity field, with classifier-free guidance (over a t-interval) and AutoGuidance.

``GuidanceConfig`` is the sample section of a diffusion run's config: a run records the sampler,
steps and guidance it is meant to be sampled with, and every caller (CLI, demo, evaluation) starts
from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from replab.errors import ConfigError

Velocity = Callable[[torch.Tensor, float], torch.Tensor]  # (x_t, t) → v
StepCallback = Callable[[], None]


@dataclass
class GuidanceConfig:
    sampler: str = "euler"  # a key of SAMPLERS
    steps: int = 50  # ODE steps (replab grid) or grid points (official-rae grid: steps − 1 ODE steps)
    schedule: str = "replab"  # time grid: "replab" (to t = 0) | "official-rae" (the official sampler's)
    grid_shift: float = 1.0  # extra shift of the replab grid: > 1 spends steps near noise, < 1 near data
    cfg_scale: float = 1.0  # classifier-free guidance; 1 = none
    cfg_interval: tuple[float, float] = (0.0, 1.0)  # guide only for t in [a, b]
    autoguidance: str = ""  # a weaker diffusion run on the same latents; "" = none
    ag_scale: float = 1.5  # AutoGuidance scale, used when a weak model is given
    # exact: PyTorch's default fp32 forward passes, CFG's two halves as two calls (bit for bit the samples of
    # replab ≤ 0.x and the numerics of the official-parity checks); false: the fast path (one fused CFG call,
    # oneDNN linears, bf16 autocast where the CPU or GPU has bf16 units), shown harmless in benchmarks/RESULTS.md
    exact: bool = False

    def validate(self, where: str = "sample") -> None:
        """Raise a ConfigError that names the bad field of ``where``."""
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"{where}.sampler: unknown '{self.sampler}'; valid: {', '.join(SAMPLERS)}")
        if self.steps < 1:
            raise ConfigError(f"{where}.steps: must be at least 1, got {self.steps}")
        if self.schedule not in ("replab", "official-rae"):
            raise ConfigError(f"{where}.schedule: unknown '{self.schedule}'; valid: replab, official-rae")
        if self.grid_shift <= 0:
            raise ConfigError(f"{where}.grid_shift: must be positive, got {self.grid_shift}")
        low, high = self.cfg_interval
        if not 0 <= low < high <= 1:
            raise ConfigError(f"{where}.cfg_interval: expected 0 <= a < b <= 1, got {self.cfg_interval}")
        if self.cfg_scale != 1.0 and self.autoguidance:
            raise ConfigError(f"{where}: choose CFG (cfg_scale={self.cfg_scale}) or AutoGuidance, not both")


def parse_interval(text: str, where: str) -> tuple[float, float]:
    """``"a,b"`` → ``(a, b)`` with 0 ≤ a < b ≤ 1 (a t-interval; t = 1 is noise), or a ConfigError naming ``where``."""
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"{where} {text!r}: expected two numbers a,b with 0 <= a < b <= 1") from None
    if not 0 <= low < high <= 1:
        raise ConfigError(f"{where} {text!r}: expected 0 <= a < b <= 1")
    return low, high


def guided_velocity(
    model, y: torch.Tensor | None, guidance: GuidanceConfig, weak_model=None, null_label: int | None = None
) -> Velocity:
    """Compose the velocity the sampler integrates.

    - CFG: v = v_uncond + s·(v_cond − v_uncond) for t inside the interval, v_cond outside.
    - AutoGuidance: v = v_weak + s·(v − v_weak), with a smaller or less-trained model of the same latents,
      inside the same interval (as the official ``forward_with_autoguidance``).
    """
    use_cfg = guidance.cfg_scale != 1.0
    if use_cfg and (y is None or null_label is None):
        raise ConfigError(
            f"classifier-free guidance (cfg_scale={guidance.cfg_scale}) needs a class-conditional model; "
            "this one is unconditional"
        )
    if use_cfg and weak_model is not None:
        raise ConfigError("choose either CFG or AutoGuidance, not both")
    low, high = guidance.cfg_interval

    def velocity(x: torch.Tensor, t: float) -> torch.Tensor:
        tt = torch.full((len(x),), float(t), device=x.device)
        inside = low <= t <= high
        if use_cfg and inside and not guidance.exact:  # both halves of CFG in one call: one pass of larger GEMMs
            both = model(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([y, torch.full_like(y, null_label)]))
            v, v_uncond = both.to(x.dtype).chunk(2)
            return v_uncond + guidance.cfg_scale * (v - v_uncond)
        v = model(x, tt, y).to(x.dtype)
        if use_cfg and inside:
            v_uncond = model(x, tt, torch.full_like(y, null_label)).to(x.dtype)
            v = v_uncond + guidance.cfg_scale * (v - v_uncond)
        if weak_model is not None and inside:
            v_weak = weak_model(x, tt, y).to(x.dtype)
            v = v_weak + guidance.ag_scale * (v - v_weak)
        return v

    return velocity


@torch.no_grad()
def euler(velocity: Velocity, noise: torch.Tensor, grid: torch.Tensor, on_step: StepCallback | None = None):
    """x_{t'} = x_t + (t' − t)·v(x_t, t) along the grid from t = 1 to t = 0."""
    x = noise
    for t, t_next in zip(grid[:-1].tolist(), grid[1:].tolist()):
        x = x + (t_next - t) * velocity(x, t)
        if on_step:
            on_step()
    return x


@torch.no_grad()
def heun(velocity: Velocity, noise: torch.Tensor, grid: torch.Tensor, on_step: StepCallback | None = None):
    """Second-order Heun; the last step (to t = 0) is plain Euler."""
    x = noise
    for t, t_next in zip(grid[:-1].tolist(), grid[1:].tolist()):
        v = velocity(x, t)
        x_euler = x + (t_next - t) * v
        if t_next == 0:
            x = x_euler
        else:
            x = x + (t_next - t) * 0.5 * (v + velocity(x_euler, t_next))
        if on_step:
            on_step()
    return x


@torch.no_grad()
def adams2(velocity: Velocity, noise: torch.Tensor, grid: torch.Tensor, on_step: StepCallback | None = None):
    """Two-step Adams–Bashforth on the velocity, for uneven steps: one evaluation per step, second order.

    x_{n+1} = x_n + h_n·[(1 + r/2)·v_n − (r/2)·v_{n−1}],  r = h_n / h_{n−1}; the first step is Euler."""
    x, previous = noise, None
    for t, t_next in zip(grid[:-1].tolist(), grid[1:].tolist()):
        v = velocity(x, t)
        h = t_next - t
        if previous is None:
            x = x + h * v
        else:
            v_prev, h_prev = previous
            r = h / h_prev
            x = x + h * ((1 + r / 2) * v - (r / 2) * v_prev)
        previous = (v, h)
        if on_step:
            on_step()
    return x


@torch.no_grad()
def dpm_solver_2m(velocity: Velocity, noise: torch.Tensor, grid: torch.Tensor, on_step: StepCallback | None = None):
    """DPM-Solver++(2M) (Lu et al., 2022) written for the flow x_t = (1 − t)·x₀ + t·ε: one evaluation per step.

    The data prediction is x̂₀ = x_t − t·v; with α = 1 − t, σ = t and λ = log(α/σ) a step from t to t' is
    x' = (σ'/σ)·x + (α' − α·σ'/σ)·D, D = x̂₀ + (x̂₀ − x̂₀_prev)/(2r), r = h_prev/h, h = λ' − λ. The first
    step (from t = 1, where λ = −∞) and the last (to t = 0) are first order, i.e. Euler steps."""
    x, previous = noise, None
    for t, t_next in zip(grid[:-1].tolist(), grid[1:].tolist()):
        x0 = x - t * velocity(x, t)
        if t_next == 0:
            x = x0
        else:
            d = x0
            lam, lam_next = _log_snr(t), _log_snr(t_next)
            if previous is not None and math.isfinite(previous[1]):
                x0_prev, lam_prev = previous
                r = (lam - lam_prev) / (lam_next - lam)
                d = x0 + (x0 - x0_prev) / (2 * r)
            x = (t_next / t) * x + ((1 - t_next) - (1 - t) * t_next / t) * d
            previous = (x0, lam)
        if on_step:
            on_step()
    return x


def _log_snr(t: float) -> float:
    """λ = log(α/σ) = log((1 − t)/t): −∞ at t = 1 (noise), +∞ at t = 0 (data)."""
    return -math.inf if t >= 1 else (math.inf if t <= 0 else math.log((1 - t) / t))


SAMPLERS = {"euler": euler, "heun": heun, "adams2": adams2, "dpm++2m": dpm_solver_2m}


def evaluation_times(sampler: str, grid: torch.Tensor) -> list[float]:
    """The times at which ``sampler`` calls the velocity on ``grid`` (traced on a scalar, no model involved)."""
    times: list[float] = []

    def record(x: torch.Tensor, t: float) -> torch.Tensor:
        times.append(float(t))
        return torch.zeros_like(x)

    SAMPLERS[sampler](record, torch.zeros(1), grid)
    return times


def evaluations(guidance: GuidanceConfig, grid: torch.Tensor) -> int:
    """Network evaluations per sample (NFE): a step inside the CFG interval costs two (conditional and
    unconditional, fused or not), one outside; AutoGuidance adds the weak model's inside its interval."""
    low, high = guidance.cfg_interval
    guided = guidance.cfg_scale != 1.0 or bool(guidance.autoguidance)
    return sum(1 + (guided and low <= t <= high) for t in evaluation_times(guidance.sampler, grid))


def describe(guidance: GuidanceConfig) -> str:
    """The sampling setting in words, e.g. "12 DPM-Solver++(2M) steps, CFG 5 for t in [0.2, 1] (20 evaluations)"."""
    names = {"euler": "Euler", "heun": "Heun", "adams2": "Adams–Bashforth-2", "dpm++2m": "DPM-Solver++(2M)"}
    low, high = guidance.cfg_interval
    where = "" if (low, high) == (0.0, 1.0) else f" for t in [{low:g}, {high:g}]"
    guide = f"CFG {guidance.cfg_scale:g}{where}" if guidance.cfg_scale != 1.0 else "no CFG"
    if guidance.autoguidance:
        guide = f"AutoGuidance {guidance.ag_scale:g}{where}"
    grid = "the official grid" if guidance.schedule == "official-rae" else "the shifted grid"
    if guidance.grid_shift != 1.0:
        grid += f" × {guidance.grid_shift:g}"
    return f"{guidance.steps} {names.get(guidance.sampler, guidance.sampler)} steps on {grid}, {guide}"
