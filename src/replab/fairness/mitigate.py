"""Sampling-time corrections of a generator's attribute distribution (no retraining).

- ``balanced_labels`` — balanced conditioning, for attributes that follow from the class label (``group``):
  the labels are allotted so that the groups' counts meet the target exactly (largest-remainder quotas).
- ``importance_resample`` — rejection sampling on the probe's predictions, calibrated by its confusion matrix
  C (measured on held-out real images): a candidate predicted as h is kept with probability a_h, where
  C·a ∝ target / p and p is the generator's error-corrected distribution (from a pilot batch). Then the
  kept samples' *true* groups follow the target whenever C holds on generated images. Weights from soft
  posteriors, w = Σ_g q_g·target_g/p_g, do not: resampling cannot change which group an ambiguous-looking
  sample really is (with a 90 %-accurate probe they took a fake generator's 10 % minority to 25 %, not 50 %).
  Reports the draws per kept sample (its cost).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from replab.errors import ConfigError
from replab.fairness.attributes import CLASS_GROUP
from replab.metrics.fairness import group_distribution, invert_confusion


def quotas(target: np.ndarray, n: int) -> np.ndarray:
    """Integer counts summing to ``n`` as close to ``n · target`` as possible (largest remainder)."""
    exact = np.asarray(target, float) * n
    counts = np.floor(exact).astype(int)
    counts[np.argsort(counts - exact)[: n - counts.sum()]] += 1
    return counts


def balanced_labels(
    target: np.ndarray, n: int, seed: int = 0, class_group: tuple[int, ...] = CLASS_GROUP
) -> torch.Tensor:
    """Class labels whose groups meet ``target`` exactly; inside a group its classes take turns."""
    if len(target) != max(class_group) + 1:
        raise ConfigError(
            "balanced conditioning applies to attributes that follow from the label (the group attribute)"
        )
    labels = []
    for group, count in enumerate(quotas(target, n)):
        classes = [c for c, g in enumerate(class_group) if g == group]
        labels += [classes[i % len(classes)] for i in range(count)]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return torch.tensor(labels)[order]


def acceptance(target: np.ndarray, true_share: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """Keep-probability per *predicted* group: a with C·a ∝ target / p (clipped at 0, scaled to max 1)."""
    if (true_share <= 1e-6).any():
        raise ConfigError(f"the generator made no sample of group {int(np.argmin(true_share))} in the pilot batch: "
                          "resampling cannot create a group it never draws")  # fmt: skip
    a = np.clip(np.linalg.solve(np.asarray(confusion, float), np.asarray(target, float) / true_share), 0, None)
    if a.max() <= 0:
        raise ConfigError("no acceptance probabilities reach the target with this probe's confusion matrix")
    return a / a.max()


def importance_resample(
    draw: Callable[[int, int], tuple[tuple[torch.Tensor, ...], np.ndarray]],
    target: np.ndarray,
    confusion: np.ndarray,
    n: int,
    batch: int = 500,
    max_draws: int = 100_000,
    seed: int = 0,
) -> tuple[tuple[torch.Tensor, ...], dict]:
    """``n`` kept samples. ``draw(count, batch_index)`` returns (tensors that share their first dimension — the
    images, their labels —, the probe's predicted group of each); the kept rows of each tensor come back."""
    state: dict = {}

    def accept(predicted: np.ndarray) -> np.ndarray:
        if not state:  # the pilot batch: the generator's error-corrected distribution
            state["true_share"] = invert_confusion(group_distribution(predicted, len(target)), confusion)
            state["keep"] = acceptance(target, state["true_share"], confusion)
        return state["keep"][predicted]

    out, info = _reject(draw, accept, n, batch, max_draws, seed, "importance resampling")
    info.update(
        pilot_true_share=state["true_share"].tolist(), keep_probability_per_predicted_group=state["keep"].tolist()
    )
    return out, info


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


def assign_quota(target: np.ndarray, n: int, seed: int = 0) -> torch.Tensor:
    """Each of ``n`` samples' group, meeting the target's quotas exactly, in a seeded order."""
    groups = np.repeat(np.arange(len(target)), quotas(target, n))
    return torch.from_numpy(groups)[torch.randperm(n, generator=torch.Generator().manual_seed(seed))]


def pooled_features(latents: torch.Tensor) -> torch.Tensor:
    """Label-free features of RAE latents ``[B, C, h, w]``: per-channel mean and std over the tokens."""
    flat = latents.flatten(2)
    return torch.cat([flat.mean(2), flat.std(2)], 1)


def fit_density_ratio(generated: torch.Tensor, reference: torch.Tensor, steps: int = 300, l2: float = 1e-2):
    """A logistic regression telling reference (real, balanced) from generated features; returns
    r(f) ≈ p_reference(f) / p_generated(f), the density ratio (fairgen's idea, here at sampling time)."""
    mean, std = generated.mean(0), generated.std(0) + 1e-6
    x = torch.cat([generated, reference]).sub(mean).div(std)
    y = torch.cat([torch.zeros(len(generated)), torch.ones(len(reference))])
    weight = torch.where(y == 1, len(generated) / len(reference), 1.0)  # as if both sets were the same size
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(x @ w + b, y, weight=weight)
                + l2 * w.square().sum())  # fmt: skip
        loss.backward()
        return loss

    opt.step(closure)
    w, b = w.detach(), b.detach()
    return lambda f: torch.exp(((f - mean) / std) @ w + b)


def density_ratio_resample(
    draw: Callable[[int, int], tuple[tuple[torch.Tensor, ...], torch.Tensor]],
    reference: torch.Tensor,
    n: int,
    batch: int = 500,
    clip_quantile: float = 0.98,
    max_draws: int = 100_000,
    seed: int = 0,
) -> tuple[tuple[torch.Tensor, ...], dict]:
    """Rejection sampling with the density ratio to ``reference`` features, fitted on a pilot batch; ``draw``
    returns (tensors, label-free features). Weights are capped at their ``clip_quantile`` (the cost bound)."""
    state: dict = {}

    def accept(features: torch.Tensor) -> np.ndarray:
        if not state:  # the pilot batch fits the ratio and its cap
            state["ratio"] = fit_density_ratio(features, reference)
            state["cap"] = float(torch.quantile(state["ratio"](features), clip_quantile))
        return (state["ratio"](features).clamp(max=state["cap"]) / state["cap"]).numpy()

    out, info = _reject(draw, accept, n, batch, max_draws, seed, "density-ratio resampling")
    return out, {**info, "weight_cap": state["cap"]}


def _reject(draw, accept, n: int, batch: int, max_draws: int, seed: int, name: str):
    """Rejection sampling: batches from ``draw`` until ``n`` rows are kept, each with probability ``accept``
    of what ``draw`` returned beside the rows (predictions, features)."""
    rng = np.random.default_rng(seed)
    kept, drawn, index = [], 0, 0
    while sum(len(k[0]) for k in kept) < n:
        if drawn >= max_draws:
            raise ConfigError(f"{name} drew {drawn} candidates without keeping {n}: the target is too far from "
                              "what the generator makes")  # fmt: skip
        items, values = draw(batch, index)
        index, drawn = index + 1, drawn + len(values)
        keep = torch.from_numpy(rng.random(len(values)) < accept(values))
        kept.append(tuple(item[keep] for item in items))
    out = tuple(torch.cat(parts)[:n] for parts in zip(*kept))
    return out, {"drawn": drawn, "kept": n, "draws_per_kept": drawn / n}
