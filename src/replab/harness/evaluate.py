"""``evaluate``: one evaluation job, start to end — create the backend (by string, behind the response cache),
build the task with it, run it with concurrency bounded by what the backend allows, resumable by item id,
and close the backend and whatever the task holds (sandboxes) however the run ends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replab.core.run import Run
from replab.harness.backends import RetryPolicy
from replab.harness.cache import CachedBackend, ResponseCache
from replab.harness.protocol import Backend
from replab.harness.task import Task, run_task

TaskBuilder = Callable[[Backend | None], Task]  # the backend (None when the task needs none) → the task


def make_backend(spec: str, base_url: str | None = None, concurrency: int = 8,
                 cache_path: str | Path | None = None, retry: RetryPolicy | None = None) -> Backend:  # fmt: skip
    """A backend by string (``openai:<model>``, ``local:smollm2``), behind an SQLite response cache when
    ``cache_path`` is given; ``retry``: an OpenAI-compatible server's timeouts, retries and stall limit."""
    from replab.harness.backends import backend_from_string

    extra = {"retry": retry} if retry is not None and spec.startswith("openai:") else {}
    backend = backend_from_string(spec, base_url=base_url, concurrency=concurrency, **extra)
    return CachedBackend(backend, ResponseCache(cache_path)) if cache_path else backend


@dataclass
class BackendSpec:
    """Which model answers, and how the harness talks to it."""

    name: str  # openai:<model> | local:smollm2
    base_url: str | None = None
    cache: str | Path | None = None  # an SQLite response cache; None: no cache
    retry: RetryPolicy | None = None


@dataclass
class Evaluation:
    records: dict[str, dict[str, Any]]  # by item id, the finished ones of earlier runs included
    model: str | None  # the backend's model, when there was one


def evaluate(build: TaskBuilder, out: str | Path, backend: BackendSpec | None = None, concurrency: int = 8,
             limit: int | None = None, quarantine: bool = False) -> Evaluation:  # fmt: skip
    """Run the task ``build`` makes, with the backend ``backend`` names, into ``<out>/results.jsonl``."""
    made = make_backend(backend.name, backend.base_url, concurrency, backend.cache, backend.retry) if backend else None
    concurrency = min(concurrency, getattr(made, "max_concurrency", None) or concurrency)
    task: Task | None = None

    async def go() -> dict[str, dict[str, Any]]:
        nonlocal task
        try:
            task = build(made)
            return await run_task(task, out, concurrency, limit, quarantine)
        finally:
            for close in task.cleanup if task is not None else ():
                close()
            if made is not None:
                await made.aclose()

    return Evaluation(asyncio.run(go()), made.model if made is not None else None)


def evaluate_in_run(run: Run, build: TaskBuilder, backend: BackendSpec | None, concurrency: int = 8,
                    limit: int | None = None, quarantine: bool = False) -> Evaluation:  # fmt: skip
    """``evaluate`` into the run's folder as its ``evaluate`` phase, the items done counted as its units (the
    footprint's energy per item)."""
    with run.phase("evaluate"):
        done = evaluate(build, run.folder, backend, concurrency, limit, quarantine)
    run.add_units("items", len(done.records))
    return done
