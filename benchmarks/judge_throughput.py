"""Judge throughput against the fake OpenAI-compatible server (tests/fake_openai_server.py) with a
fixed 200 ms latency per call: items/s at concurrency 1 (the official DITING code's sequential
behaviour) and 16, then a rerun from the response cache, which must make zero calls. The server runs in
a process of its own, as a real one would: in this process its threads would share the client's GIL.

    .venv/bin/python -m benchmarks.judge_throughput [--items 200]   (from the repository root)
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from pathlib import Path

from tests.fake_openai_server import FakeOpenAIServer

from replab.harness.backends import GenerationParams, OpenAIBackend
from replab.harness.cache import CachedBackend, ResponseCache
from replab.harness.runner import run_items


def run(base_url: str, items: int, concurrency: int, out: Path, cache: ResponseCache) -> tuple[float, CachedBackend]:
    backend = CachedBackend(OpenAIBackend("judge", base_url, concurrency=concurrency), cache)

    async def solve(item):
        response = await backend.complete([{"role": "user", "content": item["text"]}], GenerationParams())
        return {"answer": response.text, "cached": response.cached}

    async def go():
        try:
            await run_items([{"id": i, "text": f"item {i}"} for i in range(items)], solve, out, concurrency)
        finally:
            await backend.aclose()

    start = time.perf_counter()
    asyncio.run(go())
    return items / (time.perf_counter() - start), backend


def serve(conn, latency_s: float) -> None:
    """The fake server in a child process: sends its URL, then answers "count" (requests so far) until "stop"."""
    with FakeOpenAIServer(latency_s=latency_s) as server:
        conn.send(server.base_url)
        while (message := conn.recv()) != "stop":
            conn.send(len(server.requests) if message == "count" else None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args()
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    child = multiprocessing.get_context("spawn").Process(target=serve, args=(theirs, 0.2), daemon=True)
    child.start()
    base_url = ours.recv()

    def requests() -> int:
        ours.send("count")
        return ours.recv()

    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            rates = {}
            for concurrency in (1, 16):
                cache = ResponseCache(tmp / f"cache{concurrency}.sqlite")
                rates[concurrency], _ = run(base_url, args.items, concurrency, tmp / f"c{concurrency}", cache)
            calls_before = requests()
            rerun_rate, backend = run(base_url, args.items, 16, tmp / "rerun", ResponseCache(tmp / "cache16.sqlite"))
            rerun_calls = requests() - calls_before
    finally:
        ours.send("stop")
        child.join(timeout=5)
    print(f"{args.items} items, fake server latency 200 ms per call (server in its own process)")
    print(f"  concurrency  1: {rates[1]:7.2f} items/s")
    print(f"  concurrency 16: {rates[16]:7.2f} items/s   ({rates[16] / rates[1]:.1f}x)")
    print(f"  rerun from cache: {rerun_rate:7.1f} items/s, {rerun_calls} backend calls, {backend.hits} cache hits")


if __name__ == "__main__":
    main()
