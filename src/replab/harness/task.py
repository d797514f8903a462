"""Evaluations in inspect_ai's shape: a ``Task`` is a dataset of samples, a solver that produces what is to
be judged, and scorers that grade it. ``run_task`` runs it with bounded concurrency, one JSON line per
sample, resumable by sample id (``replab.harness.runner``).

A system keeps its scorers in a registry of its own, a plain dict from name to class written where the classes
are defined (``replab.diting.translation_task.SCORERS``); ``make_scorers`` builds the named ones with the
context they need (a backend, generation parameters). A scorer returns ``{"scores": {...}}`` plus, optionally,
the raw ``responses``, a ``missing`` reason per metric it could not compute, and anything else worth keeping
(written at the top of the item's record). ``evaluate`` (``replab.harness.evaluate``) runs a task end to end.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from replab.errors import ConfigError
from replab.harness.runner import run_items

Sample = dict[str, Any]
Solver = Callable[[Sample], Awaitable[dict[str, Any]]]  # sample → outputs recorded with it


class Scorer(Protocol):
    name: str
    outputs: tuple[str, ...]  # the score keys it writes
    needs_backend: bool

    async def __call__(self, sample: Sample, solved: dict[str, Any]) -> dict[str, Any]: ...


def check_metrics(registry: dict[str, type], names: list[str]) -> None:
    unknown = [n for n in names if n not in registry]
    if unknown or not names:
        raise ConfigError(f"--metrics: unknown {', '.join(unknown) or '(none given)'}; valid: {', '.join(registry)}")


def make_scorers(registry: dict[str, type], names: list[str], **context: Any) -> list[Scorer]:
    check_metrics(registry, names)
    return [registry[n](**context) for n in names]


@dataclass
class Task:
    name: str
    dataset: list[Sample]
    solver: Solver | None = None
    scorers: list[Scorer] = field(default_factory=list)
    cleanup: list[Callable[[], Any]] = field(default_factory=list)  # called once the run ends (sandboxes)


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
