"""``replab embed mteb``: score a replab embedder on mteb tasks (by name, or a benchmark's) with
``mteb.evaluate``; mteb's result files go into a Run folder and a summary table is printed. Resumable: mteb
skips the tasks whose results are already in the folder."""

from __future__ import annotations

import os
import time
from pathlib import Path

from replab.core.run import Run, check_out
from replab.errors import ConfigError, DataError


def select_tasks(names: list[str], benchmark: str | None) -> list:
    """mteb task objects for ``names`` and/or ``benchmark``, one line naming an unknown one."""
    import mteb

    if not names and not benchmark:
        raise ConfigError("give --tasks NAME... or --benchmark NAME")
    tasks = []
    try:
        if names:
            tasks += list(mteb.get_tasks(tasks=names))
        if benchmark:
            tasks += list(mteb.get_benchmark(benchmark).tasks)
    except KeyError as exc:
        raise ConfigError(f"mteb: {str(exc).strip(chr(34))}") from None
    return tasks


def load_task_data(tasks: list) -> None:
    """Every task's data, before any model loads; offline, one line naming the task whose dataset is not cached."""
    for task in tasks:
        try:
            task.load_data()
        except (ConnectionError, OSError) as exc:
            offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1"
            where = task.metadata.dataset.get("path", "?")
            if offline:
                raise DataError(f"mteb task {task.metadata.name}: its dataset {where} is not in the local cache "
                                "(offline: HF_HUB_OFFLINE=1)") from None  # fmt: skip
            raise DataError(f"mteb task {task.metadata.name}: cannot load {where} ({exc})") from None


def run_mteb(model: str, names: list[str], benchmark: str | None, out: str | Path) -> str:
    import mteb

    from replab.embed.evaluate import load_encoder
    from replab.embed.mteb_model import MTEBModel

    config = {"model": model, "tasks": sorted(names), "benchmark": benchmark}
    check_out(out, "embed-mteb", config, ())
    tasks = select_tasks(names, benchmark)
    load_task_data(tasks)
    embedder = load_encoder(model)
    if not hasattr(embedder, "modalities"):
        raise ConfigError(f"--model {model}: mteb scores replab embedders; run sentence-transformers models "
                          "through mteb's own route")  # fmt: skip
    with Run(out, config, kind="embed-mteb") as run:
        wrapped = MTEBModel(embedder, name=f"replab/{Path(model).name or model}")
        start = time.perf_counter()
        # co2_tracker off: the Run measures energy itself, and CodeCarbon's online tracker must never run here
        result = mteb.evaluate(wrapped, tasks=tasks, cache=mteb.ResultCache(run.folder / "mteb"), co2_tracker=False)
        seconds = time.perf_counter() - start
    return summary(result, seconds)


def summary(result, seconds: float) -> str:
    """One row per task: its main score (mteb's choice for the task type)."""
    lines = ["| task | main score |", "|---|---|"]
    lines += [f"| {task.task_name} | {task.get_score():.4f} |" for task in result.task_results]
    lines += [f"failed: {failure}" for failure in getattr(result, "exceptions", None) or []]
    lines.append(f"{len(result.task_results)} task(s) in {seconds:.1f} s")
    return "\n".join(lines)
