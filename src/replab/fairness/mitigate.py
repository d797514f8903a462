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
from dataclasses import asdict, dataclass

import numpy as np
import torch

from replab.errors import ConfigError
from replab.fairness.attributes import CLASS_GROUP
from replab.fairness.density_ratio import fit_log_density_ratio, fit_mixture_log_ratio
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

    def accept(predicted: np.ndarray, _labels=None) -> np.ndarray:
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
    """r(f) ≈ p_reference(f) / p_generated(f) from a logistic regression (``fit_log_density_ratio``)."""
    log_ratio = fit_log_density_ratio(generated, reference, steps, l2)
    return lambda f: torch.exp(log_ratio(f))


RATIO_AGAINST = ("generated", "training")
RATIO_MODELS = ("logistic", "mixture")


@dataclass(frozen=True)
class RatioOptions:
    """Density-ratio resampling's knobs: the logistic regression's ``l2``, the weight cap (the pilot's
    ``cap_quantile`` of r; the cost bound), ``class_quota``: every class keeps an equal share of the kept
    samples (candidates are drawn only for classes not yet full), so the correction cannot come from changing
    the class mix — on a class-conditional generator the ratio otherwise also prefers whole classes — and
    ``against``, what the reference is told apart from: ``generated`` (a pilot batch of samples: r estimates
    p_reference / p_generator, but also learns the generator's artefacts and so selects its most real-looking
    samples) or ``training`` (``training_n`` of the generator's own training images, fairgen's classifier: both
    sets are real, so r sees only how the data was biased, not how the generator differs from its data).
    ``power``: keep in proportion to r^power; ``"auto"`` solves it on the pilot so that the kept samples' mean
    log r equals the reference's — the exponential tilt of the generator's distribution closest to it in KL
    that matches the reference on the ratio's own score (a generator that renders the data's cues more weakly
    than real images needs a power above 1; no attribute labels are read). ``model``: ``logistic`` (log r
    linear in the features) or ``mixture`` (``fit_mixture_log_ratio``: r is one value per latent group of the
    target's K, so it does not also tilt the samples inside a group; class offsets on a class-conditional
    generator); ``l2`` None means 1e-2 for the first, 1e-4 for the second. ``reference_n``: the real reference
    set's size. The defaults are the setting benchmarks/RESULTS.md validated on the shipped tone-10x generator
    (against training images, mixture ratio, class quota, l2 1e-3, 2,000 references); set them as
    ``ratio.KEY=VALUE`` overrides on the command line."""

    l2: float | None = 1e-3
    cap_quantile: float = 0.98
    class_quota: bool = True
    against: str = "training"
    training_n: int = 5000
    power: float | str = 1.0
    model: str = "mixture"
    reference_n: int = 2000

    def __post_init__(self) -> None:
        if self.model not in RATIO_MODELS:
            raise ConfigError(f"ratio.model={self.model}: expected one of {', '.join(RATIO_MODELS)}")
        if self.l2 is None:
            object.__setattr__(self, "l2", 1e-2 if self.model == "logistic" else 1e-4)
        if not self.l2 >= 0:
            raise ConfigError(f"ratio.l2={self.l2}: expected >= 0")
        if not 0 < self.cap_quantile <= 1:
            raise ConfigError(f"ratio.cap_quantile={self.cap_quantile}: expected a quantile in (0, 1]")
        if self.against not in RATIO_AGAINST:
            raise ConfigError(f"ratio.against={self.against}: expected one of {', '.join(RATIO_AGAINST)}")
        if self.reference_n < 2:
            raise ConfigError(f"ratio.reference_n={self.reference_n}: expected at least 2 reference images")
        if self.training_n < 2:
            raise ConfigError(f"ratio.training_n={self.training_n}: expected at least 2 training images")
        if self.power != "auto" and not (isinstance(self.power, int | float) and self.power > 0):
            raise ConfigError(f"ratio.power={self.power}: expected a number > 0 or 'auto'")


def ratio_power(value: str) -> float | str:
    """``ratio.power``'s value: ``auto`` or a number."""
    try:
        return value if value == "auto" else float(value)
    except ValueError:
        raise ConfigError(f"ratio.power={value}: expected a number > 0 or 'auto'") from None


def matching_power(score: np.ndarray, reference_score: float, ceiling: float, labels: np.ndarray | None = None,
                   highest: float = 50.0) -> float:  # fmt: skip
    """The power p for which the samples kept with probability ∝ exp(p · min(score, ceiling)) — r^p capped
    where r is — have mean ``score`` equal to ``reference_score`` (each class weighted alike when ``labels``
    are given, as class quotas keep them). The kept mean grows with p, so bisection finds it; 0 when the
    samples already reach the reference, ``highest`` when even that cannot."""
    clipped = np.minimum(score, ceiling)
    groups = [np.flatnonzero(labels == c) for c in np.unique(labels)] if labels is not None else [slice(None)]

    def kept_mean(p: float) -> float:
        w = np.exp(p * (clipped - ceiling))
        return float(np.mean([np.sum(w[g] * score[g]) / np.sum(w[g]) for g in groups]))

    if kept_mean(0.0) >= reference_score:
        return 0.0
    if kept_mean(highest) < reference_score:
        return highest
    low, high = 0.0, highest
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if kept_mean(mid) < reference_score else (low, mid)
    return (low + high) / 2


def density_ratio_resample(
    draw: Callable[..., tuple[tuple[torch.Tensor, ...], torch.Tensor]],
    reference: torch.Tensor,
    n: int,
    batch: int = 500,
    options: RatioOptions = RatioOptions(),
    num_classes: int = 0,
    max_draws: int = 100_000,
    seed: int = 0,
    training: torch.Tensor | None = None,
    target: np.ndarray | None = None,
    reference_classes: torch.Tensor | None = None,
    training_classes: torch.Tensor | None = None,
) -> tuple[tuple[torch.Tensor, ...], dict]:
    """Rejection sampling with the density ratio to ``reference`` features, fitted on a pilot batch (or, with
    ``options.against == "training"``, on the ``training`` features of the generator's own data); ``draw``
    returns (tensors, label-free features), its second tensor the class labels. Weights are capped at the
    pilot's ``options.cap_quantile`` of r. With ``options.class_quota`` each of the ``num_classes`` classes keeps
    n / num_classes samples and ``draw(count, index, labels)`` is asked for the classes still open.
    ``options.model == "mixture"`` needs the ``target`` the reference was drawn at and, on a class-conditional
    generator, the reference's (and training images') classes."""
    _check_ratio_inputs(options, num_classes, target, reference_classes, training, training_classes)

    def fit(other: torch.Tensor, other_classes: torch.Tensor | None):
        if options.model == "logistic":
            return fit_log_density_ratio(other, reference, l2=options.l2)
        return fit_mixture_log_ratio(other, reference, target, other_classes, reference_classes, num_classes,
                                     l2=options.l2, seed=seed)  # fmt: skip

    state: dict = {}
    if options.against == "training":
        state["log_ratio"] = fit(training, training_classes)

    def accept(features: torch.Tensor, labels: torch.Tensor | None) -> np.ndarray:
        classes = labels if num_classes else None
        if "ceiling" not in state:  # the pilot fits the ratio (unless fitted on training data), its cap and power
            state.setdefault("log_ratio", fit(features, classes))
            score = state["log_ratio"](features, classes).numpy()
            state["ceiling"] = float(np.quantile(score, options.cap_quantile))
            state["power"] = float(options.power) if options.power != "auto" else matching_power(
                score, float(state["log_ratio"](reference, reference_classes).mean()), state["ceiling"],
                labels.numpy() if options.class_quota else None)  # fmt: skip
        score = state["log_ratio"](features, classes).numpy()
        return np.exp(state["power"] * (np.minimum(score, state["ceiling"]) - state["ceiling"]))

    class_quota = quotas(np.full(num_classes, 1 / num_classes), n) if options.class_quota else None
    out, info = _reject(draw, accept, n, batch, max_draws, seed, "density-ratio resampling", class_quota)
    cap = float(np.exp(state["power"] * state["ceiling"]))
    info = {**info, "weight_cap": cap, **asdict(options), "power_used": state["power"]}
    if options.model == "mixture":
        info["latent_shares"] = state["log_ratio"].shares.tolist()  # the other set's estimated group shares
    return out, info


def _check_ratio_inputs(options: RatioOptions, num_classes: int, target, reference_classes, training,
                        training_classes) -> None:  # fmt: skip
    """The inputs ``options`` asks for are there, each missing one a ConfigError naming its flag."""
    mixture = options.model == "mixture"
    if mixture and target is None:
        raise ConfigError("ratio.model=mixture needs the target the reference set was drawn at")
    if mixture and num_classes and reference_classes is None:
        raise ConfigError("--ratio-model mixture on a class-conditional generator needs the reference's classes")
    if options.against == "training" and training is None:
        raise ConfigError("--ratio-against training tells the reference from the generator's training images: "
                          "none were given")  # fmt: skip
    if options.against == "training" and mixture and num_classes and training_classes is None:
        raise ConfigError("--ratio-model mixture on a class-conditional generator needs the training images' "
                          "classes")  # fmt: skip
    if options.class_quota and num_classes < 2:
        raise ConfigError("--ratio-class-quota needs a class-conditional generator")


def _reject(draw, accept, n: int, batch: int, max_draws: int, seed: int, name: str, class_quota=None):
    """Rejection sampling: batches from ``draw`` until ``n`` rows are kept, each with probability ``accept``
    of what ``draw`` returned beside the rows (predictions, features). With ``class_quota`` (rows per class,
    the class being the rows' second tensor) a class stops keeping rows once full and later batches are drawn
    for the open classes only, sized by each class's keep rate so far."""
    rng = np.random.default_rng(seed)
    kept, drawn, index = [], 0, 0
    need = None if class_quota is None else np.array(class_quota)
    tried, taken = np.zeros(len(need) if need is not None else 0), np.zeros(len(need) if need is not None else 0)

    def missing() -> int:
        return int(need.sum()) if need is not None else n - sum(len(k[0]) for k in kept)

    while missing() > 0:
        if drawn >= max_draws:
            raise ConfigError(f"{name} drew {drawn} candidates without keeping {n}: the target is too far from "
                              "what the generator makes")  # fmt: skip
        if need is None:
            items, values = draw(batch, index)
        else:
            plan = _class_plan(need, tried, taken, batch, index)
            items, values = draw(len(plan), index, torch.from_numpy(plan))
        index, drawn = index + 1, drawn + len(values)
        keep = rng.random(len(values)) < accept(values, items[1] if len(items) > 1 else None)
        if need is not None:
            labels = items[1].numpy()
            for c in np.unique(labels):
                rows = np.flatnonzero(labels == c)
                tried[c] += len(rows)
                chosen = rows[keep[rows]]
                taken[c] += len(chosen)
                keep[chosen[need[c] :]] = False
                need[c] = max(0, need[c] - len(chosen))
        keep = torch.from_numpy(keep)
        kept.append(tuple(item[keep] for item in items))
    out = tuple(torch.cat(parts)[:n] for parts in zip(*kept))
    return out, {"drawn": drawn, "kept": n, "draws_per_kept": drawn / n}


def _class_plan(need: np.ndarray, tried: np.ndarray, taken: np.ndarray, batch: int, index: int) -> np.ndarray:
    """Labels for the next batch: the pilot cycles through all classes; later batches ask each open class for
    1.25× its expected draws (its keep rate so far, at least 1 in 50), at most ``batch`` in all."""
    classes = len(need)
    if index == 0:
        return np.arange(batch) % classes
    rate = np.maximum(taken / np.maximum(tried, 1), 0.02)
    want = np.where(need > 0, np.ceil(1.25 * need / rate), 0)
    if want.sum() > batch:
        want = np.maximum(np.floor(want * batch / want.sum()), (need > 0).astype(float))
    return np.repeat(np.arange(classes), want.astype(int))
