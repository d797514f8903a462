"""``--fair ratio``: label-free density-ratio resampling towards a small balanced set of real images.

A candidate's label-free features (``pooled_features`` of its RAE latents) are scored by the log density
ratio r between the balanced reference set and what it is told apart from — by default the generator's own
training images (fairgen's classifier: both sets are real, so r sees only how the data was biased) — and it
is kept with probability ∝ r^power, capped. The only attribute labels read are the reference set's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from replab.errors import ConfigError
from replab.fairness.density_ratio import fit_log_density_ratio, fit_mixture_log_ratio
from replab.fairness.quotas import quotas
from replab.fairness.rejection import reject


def pooled_features(latents: torch.Tensor) -> torch.Tensor:
    """Label-free features of RAE latents ``[B, C, h, w]``: per-channel mean and std over the tokens."""
    flat = latents.flatten(2)
    return torch.cat([flat.mean(2), flat.std(2)], 1)


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


@dataclass
class RatioInputs:
    """The real sets the ratio is fitted on: the balanced ``reference`` and, with ``ratio.against=training``, the
    generator's ``training`` images it is told apart from, each with its classes (None when unknown). Images or
    their features: ``features`` maps one to the other."""

    reference: torch.Tensor
    reference_classes: torch.Tensor | None = None
    training: torch.Tensor | None = None
    training_classes: torch.Tensor | None = None

    def features(self, read: Callable[[torch.Tensor], torch.Tensor]) -> RatioInputs:
        training = read(self.training) if self.training is not None else None
        return RatioInputs(read(self.reference), self.reference_classes, training, self.training_classes)


def density_ratio_resample(
    draw: Callable[..., tuple[tuple[torch.Tensor, ...], torch.Tensor]],
    real: RatioInputs,
    n: int,
    batch: int = 500,
    options: RatioOptions = RatioOptions(),
    num_classes: int = 0,
    target: np.ndarray | None = None,
    max_draws: int = 100_000,
    seed: int = 0,
) -> tuple[tuple[torch.Tensor, ...], dict]:
    """Rejection sampling with the density ratio to ``real.reference``'s features, fitted on a pilot batch (or,
    with ``options.against == "training"``, on ``real.training``, the features of the generator's own data);
    ``draw`` returns (tensors, label-free features), its second tensor the class labels. Weights are capped at
    the pilot's ``options.cap_quantile`` of r. With ``options.class_quota`` each of the ``num_classes`` classes
    keeps n / num_classes samples and ``draw(count, index, labels)`` is asked for the classes still open.
    ``options.model == "mixture"`` needs the ``target`` the reference was drawn at and, on a class-conditional
    generator, the real sets' classes."""
    _check_ratio_inputs(options, num_classes, target, real)
    reference = real.reference

    def fit(other: torch.Tensor, other_classes: torch.Tensor | None):
        if options.model == "logistic":
            return fit_log_density_ratio(other, reference, l2=options.l2)
        return fit_mixture_log_ratio(other, reference, target, other_classes, real.reference_classes, num_classes,
                                     l2=options.l2, seed=seed)  # fmt: skip

    state: dict = {}
    if options.against == "training":
        state["log_ratio"] = fit(real.training, real.training_classes)

    def accept(features: torch.Tensor, labels: torch.Tensor | None) -> np.ndarray:
        classes = labels if num_classes else None
        if "ceiling" not in state:  # the pilot fits the ratio (unless fitted on training data), its cap and power
            state.setdefault("log_ratio", fit(features, classes))
            score = state["log_ratio"](features, classes).numpy()
            state["ceiling"] = float(np.quantile(score, options.cap_quantile))
            state["power"] = float(options.power) if options.power != "auto" else matching_power(
                score, float(state["log_ratio"](reference, real.reference_classes).mean()), state["ceiling"],
                labels.numpy() if options.class_quota else None)  # fmt: skip
        score = state["log_ratio"](features, classes).numpy()
        return np.exp(state["power"] * (np.minimum(score, state["ceiling"]) - state["ceiling"]))

    class_quota = quotas(np.full(num_classes, 1 / num_classes), n) if options.class_quota else None
    out, info = reject(draw, accept, n, batch, max_draws, seed, "density-ratio resampling", class_quota)
    cap = float(np.exp(state["power"] * state["ceiling"]))
    info = {**info, "weight_cap": cap, **asdict(options), "power_used": state["power"]}
    if options.model == "mixture":
        info["latent_shares"] = state["log_ratio"].shares.tolist()  # the other set's estimated group shares
    return out, info


def _check_ratio_inputs(options: RatioOptions, num_classes: int, target, real: RatioInputs) -> None:
    """The inputs ``options`` asks for are there, each missing one a ConfigError naming its setting."""
    mixture = options.model == "mixture"
    if mixture and target is None:
        raise ConfigError("ratio.model=mixture needs the target the reference set was drawn at")
    if mixture and num_classes and real.reference_classes is None:
        raise ConfigError("ratio.model=mixture on a class-conditional generator needs the reference's classes")
    if options.against == "training" and real.training is None:
        raise ConfigError("ratio.against=training tells the reference from the generator's training images: "
                          "none were given")  # fmt: skip
    if options.against == "training" and mixture and num_classes and real.training_classes is None:
        raise ConfigError("ratio.model=mixture on a class-conditional generator needs the training images' "
                          "classes")  # fmt: skip
    if options.class_quota and num_classes < 2:
        raise ConfigError("ratio.class_quota=true needs a class-conditional generator")
