"""The real images fairness jobs read, from the data of the generator's RAE: the test split (FD-fmnist and
the per-group quality of an audit), and ``--fair ratio``'s balanced reference set and training images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from replab.core.config import from_dict
from replab.core.data import DataConfig, ImageSet, load_images, read_index_list
from replab.core.paths import beside_run
from replab.core.run import Run
from replab.fairness.auditor import auditor_groups, default_target
from replab.fairness.quotas import quotas
from replab.fairness.ratio import RatioInputs, RatioOptions


def rae_data(rae_run: str | Path) -> DataConfig:
    """The data the RAE run was trained on, as its config names it."""
    return from_dict(DataConfig, Run.read_config(rae_run)["data"], f"{rae_run}/config.yaml:data")


def rae_split(rae_run: str | Path, split: str) -> ImageSet:
    """The ``split`` (train | test) of the RAE run's data."""
    return load_images(rae_data(rae_run), split)


def reference_images(
    attribute: str, info: dict, rae_run: Path, target: np.ndarray, size: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """A small reference set of real *training* images whose attribute follows ``target``, and their classes: the
    one place a human's attribute labels enter label-free density-ratio resampling."""
    train = rae_split(rae_run, "train")
    groups = auditor_groups(attribute, train.float(), train.labels, info)
    rng = np.random.default_rng(seed)
    picks = [
        rng.choice(np.flatnonzero(groups == g), count, replace=False) for g, count in enumerate(quotas(target, size))
    ]
    index = torch.from_numpy(np.concatenate(picks))
    return train.float(index), train.labels[index]


def training_images(config, rae_run: Path, run_folder: Path, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` images drawn (seeded) from those the generator learned — its ``subset`` (found like its RAE), else
    the RAE's whole training split — and their classes. ``ratio.against=training`` tells the reference from
    these; no attribute labels are read."""
    train = rae_split(rae_run, "train")
    pool = np.arange(len(train))
    if config.subset:
        pool = read_index_list(beside_run(config.subset, run_folder), len(train)).numpy()
    index = torch.from_numpy(np.sort(np.random.default_rng(seed + 1).choice(pool, min(size, len(pool)), replace=False)))
    return train.float(index), train.labels[index]


def ratio_inputs(
    attribute: str, info: dict, config, rae_run: Path, run_folder: Path, target: np.ndarray, seed: int,
    ratio: RatioOptions,
) -> RatioInputs:  # fmt: skip
    reference = reference_images(attribute, info, rae_run, target, ratio.reference_n, seed)
    if ratio.against != "training":
        return RatioInputs(*reference)
    return RatioInputs(*reference, *training_images(config, rae_run, Path(run_folder), ratio.training_n, seed))


def training_shares(config, attribute: str, k: int, run_folder: str | Path = ".") -> np.ndarray:
    """The attribute's shares in the data the generator learned: its ``subset`` benchmark's, else the real data's.
    A relative ``subset`` is found like the run's RAE (working directory, else the run's folder)."""
    record = beside_run(config.subset, Path(run_folder)) / "benchmark.json" if config.subset else None
    if record is not None and record.exists():
        info = json.loads(record.read_text())
        if info.get("attribute") == attribute:
            return np.array(list(info["shares"].values()))
    return default_target(attribute, k)
