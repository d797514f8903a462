"""``--fair guidance``: classifier guidance of the sampler by a noise-aware attribute probe."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def probe_guidance(
    velocity: Callable[[torch.Tensor, float], torch.Tensor],
    probe: torch.nn.Module,
    assigned: torch.Tensor | None,
    target: np.ndarray,
    scale: float,
    window: tuple[float, float] = (0.0, 0.9),
) -> Callable[[torch.Tensor, float], torch.Tensor]:
    """Classifier guidance with a noise-aware probe, in the flow-matching velocity (t = 1 noise, 0 data).

    With x_t = (1 − t)·x + t·ε the score is −(x_t + (1 − t)·v)/t, so adding λ·∇log p(g | x_t) to the score
    is v' = v − λ·t/(1 − t)·∇log p(g | x_t). ``assigned`` gives each sample its group (per-sample guidance
    with an exact quota); None guides the batch's mean posterior towards ``target`` (distribution guidance,
    ∇ of Σ_g target_g·log mean_i q_ig). Only for t inside ``window``."""
    goal = torch.as_tensor(target, dtype=torch.float32)

    def guided(x: torch.Tensor, t: float) -> torch.Tensor:
        v = velocity(x, t)
        if scale == 0 or not window[0] <= t <= window[1] or t >= 1:
            return v
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            log_q = probe(xg, torch.full((len(x),), float(t))).log_softmax(-1)
            if assigned is not None:
                objective = log_q.gather(1, assigned.view(-1, 1)).sum()
            else:
                objective = len(x) * (goal * torch.logsumexp(log_q, 0).sub(np.log(len(x)))).sum()
            (grad,) = torch.autograd.grad(objective, xg)
        return v - scale * t / (1 - t) * grad

    return guided
