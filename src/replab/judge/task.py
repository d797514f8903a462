"""Evaluations in inspect_ai's shape: a ``Task`` is a dataset of samples, a solver that produces what is to
be judged, and scorers that grade it. ``run_task`` runs it with bounded concurrency, one JSON line per
sample, resumable by sample id (``replab.judge.runner``).

Scorers are looked up by name in ``SCORERS`` (one per metric); each is built with the context it needs
(a backend, generation parameters) and returns ``{"scores": {...}}`` plus, optionally, the raw
``responses``, a ``missing`` reason per metric it could not compute, and anything else worth keeping.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from replab.errors import ConfigError
from replab.judge.runner import run_items

Sample = dict[str, Any]
Solver = Callable[[Sample], Awaitable[dict[str, Any]]]  # sample → outputs recorded with it


class Scorer(Protocol):
    name: str
    outputs: tuple[str, ...]  # the score keys it writes
    needs_backend: bool

    async def __call__(self, sample: Sample, solved: dict[str, Any]) -> dict[str, Any]: ...


SCORERS: dict[str, type] = {}


def register_scorer(name: str) -> Callable[[type], type]:
    """Class decorator: make a scorer available by ``name`` (``--metrics name``)."""

    def add(cls: type) -> type:
        cls.name = name
        SCORERS[name] = cls
        return cls

    return add


def check_metrics(names: list[str]) -> None:
    unknown = [n for n in names if n not in SCORERS]
    if unknown or not names:
        raise ConfigError(f"--metrics: unknown {', '.join(unknown) or '(none given)'}; valid: {', '.join(SCORERS)}")


def make_scorers(names: list[str], **context: Any) -> list[Scorer]:
    check_metrics(names)
    return [SCORERS[n](**context) for n in names]


@dataclass
class Task:
    name: str
    dataset: list[Sample]
    solver: Solver | None = None
    scorers: list[Scorer] = field(default_factory=list)


async def run_task(task: Task, out: str | Path, concurrency: int = 8, limit: int | None = None,
                   quarantine: bool = False) -> dict[str, Any]:  # fmt: skip
    """Solve and score every sample not yet finished in ``<out>/results.jsonl``; returns all records by id."""

    async def solve(sample: Sample) -> dict[str, Any]:
        record: dict[str, Any] = await task.solver(sample) if task.solver else {}
        if task.scorers:
            record.update(scores={}, responses={}, missing={})
            for scorer in task.scorers:
                result = dict(await scorer(sample, record))
                record["scores"].update(result.pop("scores", {}))
                record["missing"].update(result.pop("missing", {}))
                if result.get("responses"):
                    record["responses"][scorer.name] = result.pop("responses")
                record.update(result)
            record["tokens"] = sum(r.get("prompt_tokens", 0) + r.get("completion_tokens", 0)
                                   for rs in record["responses"].values() for r in rs)  # fmt: skip
        return record

    return await run_items(task.dataset, solve, out, concurrency, limit, desc=task.name, quarantine=quarantine)
