import asyncio
from collections import defaultdict

import pytest

from replab.harness.backends import BackendError, GenerationParams, OpenAIBackend, RetryPolicy, backend_from_string
from replab.harness.cache import CachedBackend, ResponseCache
from tests.fake_openai_server import FakeOpenAIServer

FAST = RetryPolicy(max_attempts=6, base_delay_s=0.01, max_delay_s=0.05, timeout_s=0.5, stop_after=0)  # faults, no stall
SECRET = "sk-test-SECRET-never-logged-123"


def _ask(backend, prompts, params=GenerationParams()):
    async def run():
        try:
            return await asyncio.gather(*[backend.complete([{"role": "user", "content": p}], params) for p in prompts])
        finally:
            await backend.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize("fault", ["429", "500", "timeout", "drop", "truncated"])
def test_each_fault_is_retried_until_an_answer(fault):
    with FakeOpenAIServer(plan=lambda n: fault if n == 0 else "ok", timeout_sleep_s=1.0) as server:
        backend = OpenAIBackend("m", server.base_url, retry=FAST)
        [response] = _ask(backend, ["hello there"])
    assert response.text == "echo: hello there" and response.attempts == 2
    assert response.prompt_tokens == 2 and response.completion_tokens == 3
    assert [r["fate"] for r in server.requests] == [fault, "ok"]


def test_retry_after_is_honoured():
    with FakeOpenAIServer(plan=lambda n: "429" if n == 0 else "ok") as server:
        _ask(OpenAIBackend("m", server.base_url, retry=RetryPolicy(base_delay_s=0.0, max_delay_s=0.0)), ["x"])
    assert server.requests[1]["t"] - server.requests[0]["t"] >= 0.05  # Retry-After: 0.05 s


def test_client_errors_are_not_retried_and_name_the_server():
    with FakeOpenAIServer() as server:
        backend = OpenAIBackend("m", server.base_url + "/nope", retry=FAST)
        with pytest.raises(BackendError, match=r"/v1/nope answered HTTP 404 for model m"):
            _ask(backend, ["x"])
    assert len(server.requests) == 1


def test_gives_up_after_max_attempts():
    with FakeOpenAIServer(plan=lambda n: "500") as server:
        with pytest.raises(BackendError, match="gave up after 3 attempts"):
            _ask(OpenAIBackend("m", server.base_url, retry=RetryPolicy(3, 0.0, 0.0, 0.5)), ["x"])
    assert len(server.requests) == 3


def test_twenty_percent_faults_every_request_answered_once(tmp_path):
    prompts = [f"item {i}" for i in range(200)]
    with FakeOpenAIServer(fault_rate=0.2, seed=1, timeout_sleep_s=0.6) as server:
        backend = OpenAIBackend("m", server.base_url, concurrency=16, retry=FAST)
        responses = _ask(backend, prompts)
    assert [r.text for r in responses] == [f"echo: {p}" for p in prompts]  # each item answered, once, in order
    faults = sum(r["fate"] != "ok" for r in server.requests)
    assert 20 < faults < 80
    fates = defaultdict(list)  # per prompt, in arrival order
    for request in server.requests:
        fates[request["body"]["messages"][-1]["content"]].append(request["fate"])
    assert set(fates) == set(prompts)
    for seen in fates.values():
        # a hard fault is always retried; a slow answer ("timeout", or "ok" late on a busy machine) may be
        # read in time or retried after the client's timeout: both are correct client behaviour
        assert seen[-1] in ("ok", "timeout") and len(seen) <= FAST.max_attempts


def test_cache_makes_a_rerun_free(tmp_path):
    with FakeOpenAIServer() as server:
        cache = ResponseCache(tmp_path / "cache.sqlite")
        first = _ask(CachedBackend(OpenAIBackend("m", server.base_url, retry=FAST), cache), ["a", "b"])
        calls_after_first = len(server.requests)
        backend = CachedBackend(OpenAIBackend("m", server.base_url, retry=FAST), cache)
        second = _ask(backend, ["a", "b"])
        other_params = _ask(CachedBackend(OpenAIBackend("m", server.base_url, retry=FAST), cache), ["a"],
                            GenerationParams(temperature=0.7))  # fmt: skip
    assert calls_after_first == 2 and backend.hits == 2 and [r.text for r in second] == [r.text for r in first]
    assert all(r.cached for r in second) and not other_params[0].cached and len(server.requests) == 3


def test_the_api_key_is_sent_but_never_stored_or_reported(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FakeOpenAIServer(plan=lambda n: "ok" if n == 0 else "500") as server:
        cache = ResponseCache(tmp_path / "cache.sqlite")
        _ask(CachedBackend(OpenAIBackend("m", server.base_url, retry=FAST), cache), ["a"])
        with pytest.raises(BackendError) as err:
            _ask(OpenAIBackend("m", server.base_url, retry=RetryPolicy(2, 0, 0, 0.5)), ["b"])
        cache.close()
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert SECRET not in str(err.value)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err


def test_backend_strings():
    backend = backend_from_string("openai:qwen2.5-7b", base_url="http://127.0.0.1:9/v1")
    assert backend.model == "qwen2.5-7b" and backend.base_url == "http://127.0.0.1:9/v1"
    from replab.errors import ConfigError

    with pytest.raises(ConfigError, match="openai:<model>"):
        backend_from_string("anthropic")


def test_retry_after_ms_is_honoured_before_retry_after():
    with FakeOpenAIServer(plan=lambda n: "429ms" if n == 0 else "ok") as server:
        _ask(OpenAIBackend("m", server.base_url, retry=RetryPolicy(base_delay_s=0.0, max_delay_s=0.0)), ["x"])
    assert server.requests[1]["t"] - server.requests[0]["t"] >= 0.3  # retry-after-ms: 300, not Retry-After: 0


def test_x_should_retry_overrides_the_status():
    with FakeOpenAIServer(plan=lambda n: "400retry" if n == 0 else "ok") as server:
        [response] = _ask(OpenAIBackend("m", server.base_url, retry=FAST), ["x"])
    assert response.attempts == 2  # a 400 retried because the server said so
    with FakeOpenAIServer(plan=lambda n: "503final") as server:
        with pytest.raises(BackendError, match="answered HTTP 503"):
            _ask(OpenAIBackend("m", server.base_url, retry=FAST), ["x"])
    assert len(server.requests) == 1  # a 503 the server calls final is not retried


def test_retry_delay_reads_each_form():
    from replab.harness.backends import retry_delay, should_retry

    assert retry_delay({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_delay({"retry-after": "2"}) == 2.0 and retry_delay({"retry-after": "600"}) == 60.0
    assert retry_delay({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # a date in the past
    assert retry_delay({"retry-after": "soon"}) is None and retry_delay({}) is None
    assert should_retry(429, {}) and not should_retry(400, {}) and should_retry(400, {"x-should-retry": "true"})
    assert not should_retry(500, {"x-should-retry": "false"})
