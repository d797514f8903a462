"""Who reads the attribute, and what its distribution should be: the auditor (independent of every
correction), targets, and the small real reference set of density-ratio resampling."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from replab.core.config import from_dict
from replab.core.data import DataConfig, load_images, read_index_list
from replab.core.run import Run
from replab.diffusion.sample import resolve_rae
from replab.errors import ConfigError
from replab.fairness.attributes import ToneRule, class_groups
from replab.fairness.mitigate import RatioOptions, quotas
from replab.metrics import fairness as fm
from replab.metrics.features import load_feature_net

REFERENCE_GROUPS = np.array([0.4, 0.2, 0.3, 0.1])  # tops, bottoms, footwear, bags in Fashion-MNIST


def default_target(attribute: str, k: int) -> np.ndarray:
    return REFERENCE_GROUPS if attribute == "group" else np.full(k, 1 / k)


def read_target(spec: str, attribute: str, k: int) -> np.ndarray:
    """``uniform``, ``reference`` (the real data's shares) or a JSON file with a list of K shares."""
    if spec in ("", "default"):
        target = default_target(attribute, k)
    elif spec == "uniform":
        target = np.full(k, 1 / k)
    elif spec == "reference":
        target = default_target("group", k) if attribute == "group" else np.full(k, 1 / k)
    else:
        try:
            target = np.asarray(json.loads(Path(spec).read_text()), dtype=float)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--target {spec}: not 'uniform', 'reference' or a JSON list of shares ({exc})") from exc
    try:
        return fm.check_target(target, k)
    except ValueError as exc:
        raise ConfigError(f"--target {spec}: {exc}") from exc


def auditor_groups(attribute: str, images: torch.Tensor, labels: torch.Tensor | None, info: dict) -> np.ndarray:
    """The attribute by the independent auditor: the pixel rule (tone; with the class the sample was drawn for,
    or the FD-fmnist classifier's class when unconditional) or the classifier's class (group)."""
    if attribute == "tone" and labels is not None:
        return ToneRule(info["tone_thresholds"]).groups(images, labels).numpy()
    net, _ = load_feature_net()
    with torch.no_grad():
        predicted = torch.cat([net(images[i : i + 500]).argmax(-1) for i in range(0, len(images), 500)])
    if attribute == "tone":
        return ToneRule(info["tone_thresholds"]).groups(images, predicted).numpy()
    return class_groups(predicted).numpy()


def reference_images(
    attribute: str, info: dict, rae_run: Path, target: np.ndarray, size: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """A small reference set of real *training* images whose attribute follows ``target``, and their classes: the
    one place a human's attribute labels enter label-free density-ratio resampling."""
    train = load_images(from_dict(DataConfig, Run.read_config(rae_run)["data"], "rae config.yaml:data"), "train")
    groups = auditor_groups(attribute, train.float(), train.labels, info)
    rng = np.random.default_rng(seed)
    picks = [
        rng.choice(np.flatnonzero(groups == g), count, replace=False) for g, count in enumerate(quotas(target, size))
    ]
    index = torch.from_numpy(np.concatenate(picks))
    return train.float(index), train.labels[index]


def training_images(config, rae_run: Path, run_folder: Path, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` images drawn (seeded) from those the generator learned — its ``subset`` (found like its RAE), else
    the RAE's whole training split — and their classes. ``--ratio-against training`` tells the reference from
    these; no attribute labels are read."""
    train = load_images(from_dict(DataConfig, Run.read_config(rae_run)["data"], "rae config.yaml:data"), "train")
    pool = np.arange(len(train))
    if config.subset:
        pool = read_index_list(resolve_rae(config.subset, run_folder), len(train)).numpy()
    index = torch.from_numpy(np.sort(np.random.default_rng(seed + 1).choice(pool, min(size, len(pool)), replace=False)))
    return train.float(index), train.labels[index]


@dataclass
class RatioInputs:
    """``--fair ratio``'s real images and their classes: the balanced reference set and, with ``--ratio-against
    training``, the generator's training images it is told apart from."""

    reference: torch.Tensor
    reference_classes: torch.Tensor
    training: torch.Tensor | None = None
    training_classes: torch.Tensor | None = None


def ratio_inputs(
    attribute: str, info: dict, config, rae_run: Path, run_folder: Path, target: np.ndarray, seed: int,
    ratio: RatioOptions,
) -> RatioInputs:  # fmt: skip
    reference = reference_images(attribute, info, rae_run, target, ratio.reference_n, seed)
    if ratio.against != "training":
        return RatioInputs(*reference)
    return RatioInputs(*reference, *training_images(config, rae_run, Path(run_folder), ratio.training_n, seed))
