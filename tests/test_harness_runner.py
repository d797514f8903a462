import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from replab.errors import DataError
from replab.harness.backends import GenerationParams, OpenAIBackend, RetryPolicy
from replab.harness.protocol import ServerHealth, ServerStalled
from replab.harness.runner import read_results, run_items
from tests.fake_openai_server import FakeOpenAIServer


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_two_hundred_items_with_twenty_percent_faults(tmp_path):
    with FakeOpenAIServer(fault_rate=0.2, seed=3, timeout_sleep_s=0.6) as server:
        backend = OpenAIBackend(
            "m", server.base_url, concurrency=16, retry=RetryPolicy(8, 0.01, 0.05, 0.5, stop_after=0)
        )

        async def solve(item):
            response = await backend.complete([{"role": "user", "content": item["text"]}], GenerationParams())
            return {"answer": response.text}

        async def go():
            try:
                return await run_items([{"id": i, "text": f"t{i}"} for i in range(200)], solve, tmp_path, 16)
            finally:
                await backend.aclose()

        results = asyncio.run(go())
    lines = _lines(tmp_path / "results.jsonl")
    assert len(lines) == 200 and len({r["id"] for r in lines}) == 200
    assert all(r["error"] is None and r["answer"] == f"echo: t{r['id']}" for r in lines)
    assert len(results) == 200 and any(r["fate"] != "ok" for r in server.requests)


def test_failed_items_are_retried_on_rerun_and_torn_lines_dropped(tmp_path):
    calls = []

    async def flaky(item):
        calls.append(item["id"])
        if item["id"] == "b" and calls.count("b") == 1:
            raise RuntimeError("first try fails")
        return {"answer": item["id"].upper()}

    items = [{"id": "a"}, {"id": "b"}, {"id": "a"}]  # a duplicate id runs once
    asyncio.run(run_items(items, flaky, tmp_path))
    with open(tmp_path / "results.jsonl", "a") as handle:
        handle.write('{"id": "c", "half')  # a line a kill cut short
    results = asyncio.run(run_items(items, flaky, tmp_path))
    assert calls == ["a", "b", "b"] and results["b"]["answer"] == "B" and results["b"]["error"] is None
    assert [r["id"] for r in _lines(tmp_path / "results.jsonl")] == ["a", "b", "b"]


def test_a_corrupt_line_is_named(tmp_path):
    (tmp_path / "results.jsonl").write_text('{"id": 1}\nnot json\n')
    with pytest.raises(DataError, match=r"results.jsonl:2"):
        read_results(tmp_path / "results.jsonl")


def test_a_corrupt_line_can_be_quarantined_and_its_item_redone(tmp_path):
    (tmp_path / "results.jsonl").write_text('{"id": "a", "answer": "A", "error": null}\nnot json\n'
                                            '{"id": "c", "answer": "C", "error": null}\n')  # fmt: skip
    with pytest.raises(DataError, match="--quarantine"):
        asyncio.run(run_items([{"id": "a"}, {"id": "b"}, {"id": "c"}], _upper, tmp_path))
    calls = []
    results = asyncio.run(run_items([{"id": "a"}, {"id": "b"}, {"id": "c"}], _upper(calls), tmp_path,
                                    quarantine=True))  # fmt: skip
    assert calls == ["b"] and sorted(results) == ["a", "b", "c"]  # the good results are kept, not redone
    assert (tmp_path / "results.jsonl.bad").read_text() == "not json\n"
    assert [r["id"] for r in _lines(tmp_path / "results.jsonl")] == ["a", "c", "b"]


def _upper(calls=None):
    async def solve(item):
        if calls is not None:
            calls.append(item["id"])
        return {"answer": item["id"].upper()}

    return solve


def test_sigkill_mid_run_then_rerun_equals_an_uninterrupted_run(tmp_path):
    n = 60
    script = [sys.executable, "-m", "tests.judge_run_script"]
    root = Path(__file__).resolve().parent.parent  # the child imports tests.judge_run_script from here
    env = {**os.environ, "REPLAB_NO_PROGRESS": "1", "PYTHONPATH": str(root)}
    with FakeOpenAIServer(fault_rate=0.1, seed=5, latency_s=0.05, timeout_sleep_s=0.6) as server:
        subprocess.run([*script, server.base_url, str(tmp_path / "whole"), str(n)], check=True, env=env)
        killed = tmp_path / "killed"
        proc = subprocess.Popen([*script, server.base_url, str(killed), str(n)], env=env)
        deadline = time.time() + 60
        while time.time() < deadline:
            path = killed / "results.jsonl"
            if path.exists() and path.read_text().count("\n") >= 15:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        partial = len(read_results(killed / "results.jsonl"))
        assert 0 < partial < n, "the run finished before it could be killed"
        subprocess.run([*script, server.base_url, str(killed), str(n)], check=True, env=env)
    whole, resumed = _lines(tmp_path / "whole" / "results.jsonl"), _lines(killed / "results.jsonl")
    assert len(resumed) == n and len({r["id"] for r in resumed}) == n
    answers = {r["id"]: r["answer"] for r in whole}
    assert {r["id"]: r["answer"] for r in resumed} == answers


def test_a_server_that_stops_answering_stops_the_run_with_one_line_and_a_rerun_resumes(tmp_path):
    items = [{"id": i, "text": f"t{i}"} for i in range(24)]
    policy = RetryPolicy(max_attempts=6, base_delay_s=0.01, max_delay_s=0.02, timeout_s=0.3, stop_after=4)

    def run(server):
        backend = OpenAIBackend("m", server.base_url, concurrency=8, retry=policy)

        async def solve(item):
            response = await backend.complete([{"role": "user", "content": item["text"]}], GenerationParams())
            return {"answer": response.text}

        async def go():
            try:
                return await run_items(items, solve, tmp_path, concurrency=8, health=health)
            finally:
                await backend.aclose()

        return asyncio.run(go())

    health = ServerHealth()
    # four answers, then a server that accepts requests and never answers in time (it hangs, as seen)
    with FakeOpenAIServer(plan=lambda n: "ok" if n < 4 else "timeout", timeout_sleep_s=3.0) as server:
        with pytest.raises(ServerStalled, match=r"answered none of the last 4 requests within 0.3 s.*rerun"):
            run(server)
    finished = _lines(tmp_path / "results.jsonl")
    assert len(finished) == 4 and all(r["error"] is None for r in finished)  # the stalled items are not failures
    assert health.unanswered >= 4 and health.postfix()["timeouts"] == health.unanswered
    health = ServerHealth()
    with FakeOpenAIServer() as server:  # the server is back: the rerun does only the 20 left
        results = run(server)
    assert len(server.requests) == 20 and len(results) == 24
    assert sorted(r["id"] for r in _lines(tmp_path / "results.jsonl")) == list(range(24))


def test_an_item_that_exhausts_its_retries_gets_one_warning_line(tmp_path, capsys):
    health = ServerHealth()
    with FakeOpenAIServer(plan=lambda n: "500" if n < 2 else "ok") as server:
        backend = OpenAIBackend("m", server.base_url, concurrency=1, retry=RetryPolicy(2, 0.0, 0.0, 1.0))

        async def solve(item):
            return {
                "answer": (await backend.complete([{"role": "user", "content": item["id"]}], GenerationParams())).text
            }

        async def go():
            try:
                return await run_items([{"id": "a"}, {"id": "b"}], solve, tmp_path, concurrency=1, health=health)
            finally:
                await backend.aclose()

        results = asyncio.run(go())
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert warnings == [f"replab: warning: item a: {server.base_url} model m: gave up after 2 attempts (HTTP 500)"]
    assert results["a"]["error"] and results["b"]["answer"] == "echo: b"
    assert health.gave_up == 1 and health.retries == 1 and health.postfix() == {"retries": 1, "gave up": 1}
