"""``replab data skew``: seeded, skewed subsets of the Fashion-MNIST training split with a known truth.

- ``tone-10x``: keeps 1 in 10 dark items (of every class): about 9 % dark.
- ``tone-mixed``: the same skew in 5 chosen classes only, the others balanced — a per-class detection task.
- ``group-10x``: keeps 1 in 10 items of the ``bottoms`` group (trousers, dresses).

The folder holds ``indices.json`` (the kept training indices, hashed; a diffusion run trains on them with
``subset=DIR``) and ``benchmark.json`` (preset, seed, the tone thresholds, the shares it produced).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from replab.core.data import DataConfig, load_images, write_index_list
from replab.errors import ConfigError
from replab.fairness.attributes import GROUPS, TONE_GROUPS, ToneRule, class_groups

BENCHMARK_FILE = "benchmark.json"
MIXED_CLASSES = (0, 2, 3, 4, 6)  # the upper-body garments: T-shirt/top, Pullover, Dress, Coat, Shirt


@dataclass(frozen=True)
class SkewPreset:
    attribute: str  # tone | group
    minority: int  # the group thinned out
    keep: float  # the share of its items kept
    classes: tuple[int, ...] = tuple(range(10))  # where the thinning applies


PRESETS = {
    "tone-10x": SkewPreset("tone", 0, 0.1),
    "tone-mixed": SkewPreset("tone", 0, 0.1, MIXED_CLASSES),
    "group-10x": SkewPreset("group", GROUPS.index("bottoms"), 0.1),
}


def skew_indices(preset: SkewPreset, groups: torch.Tensor, labels: torch.Tensor, seed: int) -> np.ndarray:
    """Every item, except that a seeded ``1 − keep`` of the minority's items in ``classes`` is dropped."""
    rng = np.random.default_rng(seed)
    groups, labels = groups.numpy(), labels.numpy()
    thinned = (groups == preset.minority) & np.isin(labels, preset.classes)
    dropped = thinned & (rng.random(len(groups)) >= preset.keep)
    return np.flatnonzero(~dropped)


def make_skew(name: str, out: str | Path, seed: int = 0, data: DataConfig | None = None) -> Path:
    if name not in PRESETS:
        raise ConfigError(f"--preset: unknown '{name}'; valid: {', '.join(PRESETS)}")
    if name not in PRESETS:
        raise ConfigError(f"--preset {name}: unknown skew preset; valid: {', '.join(sorted(PRESETS))}")
    preset = PRESETS[name]
    train = load_images(data or DataConfig(), "train")
    rule = ToneRule.fit(train.float(), train.labels)
    groups = rule.groups(train.float(), train.labels) if preset.attribute == "tone" else class_groups(train.labels)
    keep = skew_indices(preset, groups, train.labels, seed)
    kept_groups, kept_labels = groups[keep], train.labels[keep]
    names = TONE_GROUPS if preset.attribute == "tone" else GROUPS
    shares = {g: float((kept_groups == i).float().mean()) for i, g in enumerate(names)}
    per_class = {int(c): float((kept_groups[kept_labels == c] == preset.minority).float().mean()) for c in range(10)}
    info = {"preset": name, "seed": seed, "attribute": preset.attribute, "minority": names[preset.minority],
            "keep": preset.keep, "skewed_classes": list(preset.classes), "tone_thresholds": rule.thresholds,
            "shares": shares, "minority_share_per_class": per_class, "train_items": len(train)}  # fmt: skip
    folder = Path(out)
    write_index_list(folder, keep, preset=name, seed=seed)
    (folder / BENCHMARK_FILE).write_text(json.dumps(info, indent=1))
    print(f"{name}: kept {len(keep)} of {len(train)} training images; shares " +
          ", ".join(f"{g} {v:.3f}" for g, v in shares.items()) + f" → {folder}")  # fmt: skip
    return folder
