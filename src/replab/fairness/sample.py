"""Samples of a diffusion run with a sampling-time fairness correction (``--fair``), and their labels.

- ``none``: class-cycled labels, as the run samples;
- ``balanced``: labels whose groups meet the target exactly, for attributes that follow from the label
  (``quotas``);
- ``resample``: the probe's predictions, calibrated by its confusion, decide which candidates to keep
  (``resample``);
- ``guidance`` / ``guidance-batch``: a noise-aware probe's gradient steers each sample towards its assigned
  group, or the batch towards the target (``guidance``);
- ``ratio``: label-free density-ratio resampling towards a balanced set of real images (``ratio``), the
  validated correction (benchmarks/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from replab.diffusion.sample import generate, load_guide
from replab.diffusion.samplers import GuidanceConfig
from replab.errors import ConfigError
from replab.fairness.guidance import probe_guidance
from replab.fairness.probe import predict
from replab.fairness.quotas import assign_quota, balanced_labels
from replab.fairness.ratio import RatioInputs, RatioOptions, density_ratio_resample, pooled_features
from replab.fairness.resample import importance_resample

FAIR_MODES = ("none", "balanced", "resample", "guidance", "guidance-batch", "ratio")


def class_cycle(model, count: int, start: int = 0) -> torch.Tensor | None:
    return (torch.arange(start, start + count) % model.num_classes) if model.num_classes else None


def _candidates(model, rae, config, guidance: GuidanceConfig, weak, seed: int, read: Callable):
    """A ``draw(count, index, labels=None)`` for the resamplers: fresh samples (class-cycled unless ``labels``
    are given), their labels and ``read`` of their latents."""

    def draw(count: int, index: int, labels: torch.Tensor | None = None):
        labels = class_cycle(model, count, index * count) if labels is None else labels
        images = generate(model, rae, config, n=count, labels=labels, guidance=guidance, weak_model=weak,
                          seed=seed + 1000 * index)  # fmt: skip
        with torch.no_grad():
            values = read(rae.encode(images))
        return (images, labels if labels is not None else torch.full((count,), -1)), values

    return draw


def _encode(rae, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([rae.encode(images[i : i + 500]) for i in range(0, len(images), 500)])


def fair_generate(
    model, rae, config, *, n: int, mode: str, target: np.ndarray, guidance: GuidanceConfig,
    probe=None, probe_info: dict | None = None, seed: int = 0, batch: int = 500,
    guide_probe=None, guide_scale: float = 8.0, guide_window: tuple[float, float] = (0.0, 0.9),
    real: RatioInputs | None = None, ratio: RatioOptions = RatioOptions(),
) -> tuple[torch.Tensor, torch.Tensor | None, dict]:  # fmt: skip
    """``n`` images, the class label each was drawn for, and what the correction cost (with ``guidance``: the
    group each sample was steered to, ``assigned``). ``real``: ``--fair ratio``'s real images (``ratio_inputs``)."""
    weak = load_guide(guidance)
    if mode in ("none", "balanced"):
        if mode == "balanced" and not model.num_classes:
            raise ConfigError("--fair balanced conditions on class labels: this model is unconditional")
        labels = balanced_labels(target, n, seed) if mode == "balanced" else class_cycle(model, n)
        images = generate(model, rae, config, n=n, labels=labels, guidance=guidance, weak_model=weak, seed=seed)
        return images, labels, ({"draws_per_kept": 1.0} if mode == "balanced" else {})
    if mode in ("resample", "ratio"):
        if mode == "resample" and (probe is None or probe_info is None):
            raise ConfigError("--fair resample reads the attribute with a probe: give --probe")
        if mode == "ratio" and real is None:
            raise ConfigError("--fair ratio resamples towards a balanced reference set of real images: give one")
        if mode == "resample":
            draw = _candidates(model, rae, config, guidance, weak, seed, lambda z: predict(probe, z).numpy())
            confusion = np.array(probe_info["confusion"])
            (images, labels), info = importance_resample(draw, target, confusion, n, batch=batch, seed=seed)
        else:
            draw = _candidates(model, rae, config, guidance, weak, seed, pooled_features)
            features = real.features(lambda images: pooled_features(_encode(rae, images)))
            (images, labels), info = density_ratio_resample(draw, features, n, batch=batch, options=ratio,
                                                            num_classes=model.num_classes, target=target,
                                                            seed=seed)  # fmt: skip
        return images, (labels if model.num_classes else None), info
    if mode in ("guidance", "guidance-batch"):
        return _guided(
            model, rae, config, n, mode, target, guidance, weak, seed, guide_probe, guide_scale, guide_window
        )
    raise ConfigError(f"--fair: unknown '{mode}'; valid: {', '.join(FAIR_MODES)}")


def _guided(model, rae, config, n, mode, target, guidance, weak, seed, guide_probe, scale, window):
    if guide_probe is None or not guide_probe.spec.noise_aware:
        raise ConfigError(f"--fair {mode} needs a noise-aware probe (probe.noise_aware=true): --guide-probe")
    labels = class_cycle(model, n)
    assigned = assign_quota(target, n, seed) if mode == "guidance" else None

    def steer(velocity, rows: slice):
        mine = assigned[rows] if assigned is not None else None
        return probe_guidance(velocity, guide_probe, mine, target, scale, window)

    images = generate(
        model, rae, config, n=n, labels=labels, guidance=guidance, weak_model=weak, seed=seed, steer=steer
    )
    info = {"draws_per_kept": 1.0, "scale": scale, "window": list(window)}
    if assigned is not None:
        info["assigned"] = assigned.tolist()
    return images, labels, info


def fair_sample_grid(
    run_folder, n: int, out, mode: str, target: str = "", probe_folder=None, guidance: GuidanceConfig | None = None,
    seed: int = 0, guide_probe=None, guide_scale: float = 8.0, guide_window: tuple[float, float] = (0.0, 0.9),
    ratio: RatioOptions = RatioOptions(),
):  # fmt: skip
    """``replab diffusion sample --fair MODE``: a grid PNG of corrected samples and, beside it, what it cost."""
    import json
    from pathlib import Path

    from replab.core.images import save_grid
    from replab.diffusion.sample import load_diffusion, resolve_rae
    from replab.fairness.auditor import read_target
    from replab.fairness.probe import load_probe
    from replab.fairness.real_images import ratio_inputs

    model, config, rae = load_diffusion(run_folder)
    rae_run = resolve_rae(config.rae, Path(run_folder))
    probe, info = load_probe(probe_folder, rae_run) if probe_folder else (None, None)
    attribute = info["spec"]["attribute"] if info else "group"
    goal = read_target(target, attribute, len(info["groups"]) if info else 4)
    steering = load_probe(guide_probe, rae_run)[0] if guide_probe else None
    real = (ratio_inputs(attribute, info, config, rae_run, Path(run_folder), goal, seed, ratio)
            if mode == "ratio" else None)  # fmt: skip
    guidance = guidance or config.sample
    images, _, cost = fair_generate(model, rae, config, n=n, mode=mode, target=goal, guidance=guidance, probe=probe,
                                    probe_info=info, seed=seed, guide_probe=steering, guide_scale=guide_scale,
                                    guide_window=guide_window, real=real, ratio=ratio)  # fmt: skip
    cost.pop("assigned", None)
    rows = [images[i : i + 10] for i in range(0, len(images), 10)]
    path = save_grid(rows, out, scale=4 if images.shape[-1] <= 64 else 1)
    Path(out).with_suffix(".json").write_text(json.dumps({"fair": mode, "target": goal.tolist(), **cost}, indent=1))
    return path
