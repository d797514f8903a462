"""Evaluation runs: items flow dataset → solver → scorer; one JSON line per finished item.

Resume is by item id: a rerun reads ``results.jsonl``, skips every id finished without error (an
item that failed is tried again, its new line superseding the old), and drops a last line that a
kill left half-written. Each line is written whole and flushed before the next, so
no item is lost or written twice. ``summary.json`` holds the config and the aggregate.

The server's health is on the progress bar (retries, timeouts, items given up), an item that exhausts its
retries gets one warning line, and a server that stops answering stops the run with one line
(``ServerStalled``): what finished is saved, and rerunning the same command resumes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from replab.core.progress import progress_bar
from replab.errors import DataError, notice
from replab.harness.protocol import BackendError, ServerHealth, ServerStalled, watch_health

Solver = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]  # item → outputs (responses, parsed scores)


def read_results(path: Path, quarantine: bool = False) -> dict[str, dict[str, Any]]:
    """Finished items by id; a torn last line (from a kill) is cut off the file. A corrupt line elsewhere is
    an error naming it — or, with ``quarantine``, moved to ``<file>.bad`` so that its item is done again."""
    if not path.exists():
        return {}
    raw = path.read_bytes()
    keep = raw[: raw.rfind(b"\n") + 1]
    if len(keep) != len(raw):
        with open(path, "r+b") as handle:
            handle.truncate(len(keep))
    done, good, bad = {}, [], []
    for number, line in enumerate(keep.decode(errors="replace").splitlines(), 1):
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or "id" not in record:
                raise ValueError("not a result object with an 'id'")
        except ValueError as exc:
            if not quarantine:
                raise DataError(
                    f"{path}:{number}: not a result line ({exc}); rerun with --quarantine to move the bad line(s) "
                    f"to {path.name}.bad and resume (their items are done again)"
                ) from exc
            bad.append(line)
            continue
        good.append(line)
        done[record["id"]] = record
    if bad:
        with open(path.with_name(path.name + ".bad"), "a") as handle:
            handle.write("\n".join(bad) + "\n")
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in good))
        os.replace(tmp, path)
        notice(f"{path}: {len(bad)} corrupt line(s) moved to {path.name}.bad; their items are done again")
    return done


async def run_items(
    items: Iterable[dict[str, Any]],
    solve: Solver,
    out: str | Path,
    concurrency: int = 8,
    limit: int | None = None,
    desc: str = "items",
    on_record: Callable[[dict[str, Any]], None] | None = None,
    quarantine: bool = False,
    health: ServerHealth | None = None,
) -> dict[str, dict[str, Any]]:
    """Run ``solve`` on every item not yet in ``<out>/results.jsonl``; returns all results by id. ``health``
    collects what the server did (a fresh one by default)."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "results.jsonl"
    done = read_results(path, quarantine)
    todo = _still_to_do(items, done, limit)
    bar = progress_bar(len(done) + len(todo), desc, unit="item", initial=len(done))
    health = health if health is not None else ServerHealth()
    watch_health(health)  # this coroutine's context, copied into every task it starts
    semaphore = asyncio.Semaphore(concurrency)
    lock = asyncio.Lock()
    with open(path, "a") as handle:

        async def one(item: dict[str, Any]) -> None:
            async with semaphore:
                start = time.perf_counter()
                try:
                    outputs, error = await solve(item), None
                except ServerStalled:
                    raise  # not this item's fault: it is left undone, for the rerun
                except Exception as exc:  # an item that fails is recorded with its error, never dropped
                    outputs, error = {}, f"{type(exc).__name__}: {exc}"
                    if isinstance(exc, BackendError):
                        health.gave_up += 1
                        bar.write(f"replab: warning: item {item['id']}: {exc}", file=sys.stderr)
                record = {"id": item["id"], "inputs": item, **outputs, "error": error,
                          "latency_s": round(time.perf_counter() - start, 4)}  # fmt: skip
            async with lock:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                handle.flush()
                done[item["id"]] = record
                bar.set_postfix(health.postfix(), refresh=False)
                bar.update(1)
                if on_record:
                    on_record(record)

        ticker = asyncio.create_task(_show_health(bar, health))
        try:
            failure = await _first_failure([asyncio.create_task(one(item)) for item in todo])
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
            bar.close()
    if failure is not None:
        raise _explained(failure, done, path)
    return done


def _explained(failure: BaseException, done: dict[str, dict[str, Any]], path: Path) -> BaseException:
    if not isinstance(failure, ServerStalled):
        return failure
    finished = sum(1 for record in done.values() if not record.get("error"))
    return ServerStalled(
        f"{failure}; stopped, {finished} items finished and saved in {path}: rerun the same command to resume"
    )


async def _show_health(bar, health: ServerHealth) -> None:
    """The bar says what the server does even while no item finishes."""
    while True:
        await asyncio.sleep(1.0)
        if health.postfix():
            bar.set_postfix(health.postfix())


def _still_to_do(items: Iterable[dict[str, Any]], done: dict[str, dict[str, Any]], limit: int | None) -> list:
    """The items (the first ``limit``) not yet finished without an error, each id once."""
    todo, seen = [], {item_id for item_id, record in done.items() if not record.get("error")}
    for item in list(items)[:limit]:
        if "id" not in item:
            raise DataError(f"an item has no 'id': {str(item)[:80]}")
        if item["id"] in seen:
            continue
        seen.add(item["id"])
        todo.append(item)
    return todo


async def _first_failure(tasks: list[asyncio.Task]) -> BaseException | None:
    """Wait for every task, or for the first one that raises; then cancel the rest and return that exception."""
    try:
        if tasks:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        return next((t.exception() for t in tasks if t.done() and not t.cancelled() and t.exception()), None)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
