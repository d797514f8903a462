"""The one training-loop skeleton every replab trainer shares.

It owns what is the same in every loop — resuming from the newest checkpoint, the learning-rate
schedule, the progress bar with its rate, counting units of work for the footprint, metrics.jsonl
and the checkpoint cadence — and leaves the forward, the backward and the optimizer step in the
caller's loop, nanoGPT-style::

    loop = TrainLoop(run, config.train, {"model": model}, {"model": optimizer}, units={"images": 64})
    for step in loop:
        loss = model(batch(step)).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loop.end_step(step, loss=loss)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch

from replab.core import dist
from replab.core.run import Run
from replab.core.train import TrainConfig, lr_at, set_lr

Metric = float | torch.Tensor


class TrainLoop:
    """Iterate the steps still to do; ``end_step`` after each one does the bookkeeping."""

    def __init__(
        self,
        run: Run,
        config: TrainConfig,
        modules: dict[str, torch.nn.Module],
        optimizers: dict[str, torch.optim.Optimizer] | None = None,
        generators: dict[str, torch.Generator] | None = None,
        *,
        units: dict[str, float],
        desc: str | None = None,
        scheduled: Iterable[str] | None = None,
        position: Callable[[int], dict[str, Any]] | None = None,
    ) -> None:
        """``units``: work per step for the footprint (the first also names the logged rate, e.g.
        ``images_per_s``); ``scheduled``: the optimizers that follow the learning-rate schedule (default
        all); ``position``: the data position saved with a checkpoint after a given number of steps."""
        self.run, self.config = run, config
        self.modules, self.optimizers, self.generators = modules, optimizers or {}, generators
        self.units, self.desc, self.position = units, desc or run.kind, position
        names = list(self.optimizers) if scheduled is None else list(scheduled)
        self._scheduled = [self.optimizers[name] for name in names]
        self.state = run.resume(modules, self.optimizers, generators)
        self.start = self.state["step"] if self.state else 0
        self.lr = lr_at(self.start, config)
        self._bar = None
        self._tick, self._since = time.perf_counter(), 0

    def __iter__(self) -> Iterator[int]:
        self._bar = self.run.progress(self.config.steps, self.start, desc=self.desc)
        self._tick, self._since = time.perf_counter(), 0
        try:
            with self.run.phase("train"):
                for step in range(self.start, self.config.steps):
                    self.lr = lr_at(step, self.config)
                    for optimizer in self._scheduled:
                        set_lr(optimizer, self.lr)
                    yield step
        finally:
            self._bar.close()

    def is_log_step(self, step: int) -> bool:
        return (step + 1) % self.config.log_every == 0

    def end_step(
        self,
        step: int,
        units: dict[str, float] | None = None,
        extra: dict[str, Any] | None = None,
        **metrics: Metric,
    ) -> None:
        """Count the step's work, show the first metrics on the bar, log every ``log_every`` steps (the
        metrics averaged over processes, plus ``extra`` as it is) and checkpoint every ``ckpt_every``.
        Values only worth computing on a logged step are guarded with ``is_log_step``."""
        for unit, count in {"steps": 1, **(units or self.units)}.items():
            self.run.add_units(unit, count)
        self._since += 1
        self._bar.update(1)
        shown = list(metrics.items())[:2]
        if shown:
            self._bar.set_postfix({k: f"{_scalar(v):.4f}" for k, v in shown}, refresh=False)
        done = step + 1
        if self.is_log_step(step):
            self._log(done, metrics, extra)
        if done % self.config.ckpt_every == 0 or done == self.config.steps:
            state = {"data": self.position(done)} if self.position else None
            self.run.save(done, self.modules, self.optimizers, self.generators, state)
            dist.barrier()

    def _log(self, done: int, metrics: dict[str, Metric], extra: dict[str, Any] | None) -> None:
        now = time.perf_counter()
        rate_unit, per_step = next(iter(self.units.items()))
        rate = self._since * per_step / max(now - self._tick, 1e-9)
        self._tick, self._since = now, 0
        values = torch.tensor([_scalar(v) for v in metrics.values()], dtype=torch.float64)
        values = dist.all_reduce_mean(values).tolist() if metrics else []
        row = dict(zip(metrics, values))
        self.run.log(done, **row, **(extra or {}), lr=self.lr, **{f"{rate_unit}_per_s": rate})


def _scalar(value: Metric) -> float:
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
