"""Who reads the attribute, and what its distribution should be: the auditor (independent of every
correction, the grader of every audit) and the target shares."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from replab.errors import ConfigError
from replab.fairness.attributes import ToneRule, class_groups
from replab.metrics import fairness as fm
from replab.metrics.features import load_feature_net

AUDITED = ("tone", "group")  # the attributes an exact auditor reads
REFERENCE_GROUPS = np.array([0.4, 0.2, 0.3, 0.1])  # tops, bottoms, footwear, bags in Fashion-MNIST


def default_target(attribute: str, k: int) -> np.ndarray:
    return REFERENCE_GROUPS if attribute == "group" else np.full(k, 1 / k)


def read_target(spec: str, attribute: str, k: int) -> np.ndarray:
    """``uniform``, ``reference`` (the real data's shares), a JSON list of K shares (``[0.5,0.5]``) or a JSON file
    holding one."""
    if spec in ("", "default"):
        target = default_target(attribute, k)
    elif spec == "uniform":
        target = np.full(k, 1 / k)
    elif spec == "reference":
        target = default_target("group", k) if attribute == "group" else np.full(k, 1 / k)
    else:
        try:
            text = spec if spec.lstrip().startswith("[") else Path(spec).read_text()
            target = np.asarray(json.loads(text), dtype=float)
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"--target {spec}: expected uniform, reference, a JSON list of {k} shares or a JSON "
                              f"file holding one ({exc})") from exc  # fmt: skip
    try:
        return fm.check_target(target, k)
    except ValueError as exc:
        raise ConfigError(f"--target {spec}: {exc}") from exc


def has_auditor(info: dict) -> bool:
    """Whether the probe's attribute has an exact auditor (the built-in tone and group; not a user's own)."""
    return info["spec"]["attribute"] in AUDITED and not info.get("data")


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
