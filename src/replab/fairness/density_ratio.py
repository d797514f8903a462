"""Density ratios r(f) ≈ p_reference(f) / p_other(f) on label-free features, for density-ratio resampling.

- ``fit_log_density_ratio`` — fairgen's classifier: a logistic regression telling the reference from the other
  set; log r is its logit, linear in f. When the two sets differ in the mix of a discrete attribute, the true
  ratio is a step (one value per group), and a linear logit also tilts the samples *inside* each group towards
  the other group's look — selection that FD-fmnist penalises.
- ``fit_mixture_log_ratio`` — the label-shift form of that step: both sets mix the same K latent groups, the
  reference at the target's shares t, the other at unknown shares π, so r(f) = Σ_k (t_k / π_k) · P(k | f).
  It is bounded between min and max t_k / π_k and flat inside a group. No image's attribute is read; what it
  uses is the number of groups and the shares the reference was drawn at.

Both are fitted by the same weighted logistic loss (the reference weighted as if both sets were the same
size), so their logit estimates log r.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

LogRatio = Callable[..., torch.Tensor]


def _standardise(other: torch.Tensor, reference: torch.Tensor):
    mean, std = other.mean(0), other.std(0) + 1e-6
    x = torch.cat([other, reference]).sub(mean).div(std)
    y = torch.cat([torch.zeros(len(other)), torch.ones(len(reference))])
    weight = torch.where(y == 1, len(other) / len(reference), 1.0)
    return x, y, weight, lambda f: (f - mean) / std


def _minimise(params: list[torch.Tensor], loss: Callable[[], torch.Tensor], steps: int) -> None:
    opt = torch.optim.LBFGS(params, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        value = loss()
        value.backward()
        return value

    opt.step(closure)


def fit_log_density_ratio(other: torch.Tensor, reference: torch.Tensor, steps: int = 300, l2: float = 1e-2) -> LogRatio:
    """log r(f) from a logistic regression telling ``reference`` from ``other`` features; call it as
    ``log_ratio(features)`` (a class argument, if given, is ignored)."""
    x, y, weight, scale = _standardise(other, reference)
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    _minimise([w, b], lambda: F.binary_cross_entropy_with_logits(x @ w + b, y, weight=weight)
              + l2 * w.square().sum(), steps)  # fmt: skip
    w, b = w.detach(), b.detach()
    return lambda f, _classes=None: scale(f) @ w + b


def fit_mixture_log_ratio(
    other: torch.Tensor,
    reference: torch.Tensor,
    target: np.ndarray,
    other_classes: torch.Tensor | None = None,
    reference_classes: torch.Tensor | None = None,
    num_classes: int = 0,
    steps: int = 500,
    l2: float = 1e-4,
    seed: int = 0,
) -> LogRatio:
    """log r(f) = log Σ_k (target_k / π_k) · q_k(f), q = softmax(W f + c) the other set's posterior over K =
    len(target) latent groups and π = the mean of q over the other set (its shares, so that they agree with
    its posterior — which also keeps the fit from buying a steeper r with a vanishing group). With class
    labels (``num_classes`` > 0; a class-conditional generator's, never the attribute's) c has one row per
    class: where a group's boundary lies may differ by class, as a garment is dark or light for its class.
    Call it as ``log_ratio(features, classes)``; ``.shares`` holds π."""
    target = torch.as_tensor(np.asarray(target, float), dtype=torch.float32)
    k = len(target)
    x, y, weight, scale = _standardise(other, reference)
    by_class = num_classes > 0 and other_classes is not None and reference_classes is not None
    classes = torch.cat([other_classes, reference_classes]).long() if by_class else torch.zeros(len(x)).long()
    generator = torch.Generator().manual_seed(seed)
    w = (0.01 * torch.randn(x.shape[1], k, generator=generator)).requires_grad_(True)
    # uneven at the start: where every group has the other set's target share, r = 1 and the gradient vanishes
    c = torch.linspace(1.0, -1.0, k).repeat(num_classes if by_class else 1, 1).requires_grad_(True)
    mine = slice(0, len(other))

    def log_posterior(z: torch.Tensor, rows: torch.Tensor, w, c) -> torch.Tensor:
        return torch.log_softmax(z @ w + c[rows], 1)

    def log_ratio(z: torch.Tensor, rows: torch.Tensor, w, c, log_shares) -> torch.Tensor:
        return torch.logsumexp(target.log() - log_shares + log_posterior(z, rows, w, c), 1)

    def loss() -> torch.Tensor:
        log_shares = torch.logsumexp(log_posterior(x[mine], classes[mine], w, c), 0) - np.log(len(other))
        fit = F.binary_cross_entropy_with_logits(log_ratio(x, classes, w, c, log_shares), y, weight=weight)
        return fit + l2 * w.square().sum()

    _minimise([w, c], loss, steps)
    w, c = w.detach(), c.detach()
    log_shares = torch.logsumexp(log_posterior(x[mine], classes[mine], w, c), 0) - np.log(len(other))

    def fitted(f: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        if by_class and rows is None:
            raise ValueError("this density ratio was fitted with class offsets: give the candidates' classes")
        rows = rows.long() if by_class else torch.zeros(len(f), dtype=torch.long)
        return log_ratio(scale(f), rows, w, c, log_shares)

    fitted.shares = log_shares.exp()
    return fitted
