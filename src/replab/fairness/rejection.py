"""The rejection sampler both resamplers share: batches of fresh samples, each kept with a probability the
caller computes, optionally with a per-class quota so that the class mix cannot change."""

from __future__ import annotations

import numpy as np
import torch

from replab.errors import ConfigError


def reject(draw, accept, n: int, batch: int, max_draws: int, seed: int, name: str, class_quota=None):
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
            plan = class_plan(need, tried, taken, batch, index)
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


def class_plan(need: np.ndarray, tried: np.ndarray, taken: np.ndarray, batch: int, index: int) -> np.ndarray:
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
