"""LLM backends chosen by a string: ``openai:<model>`` for any OpenAI-compatible server.

Calls are async with a bounded concurrency; connection errors, timeouts and HTTP 408/409/429/5xx are
retried with exponential backoff and full jitter. As the official openai client does, a server's
``x-should-retry: true|false`` overrides the status, and its ``retry-after-ms`` (else ``Retry-After``, in
seconds or as an HTTP date) sets the wait. Retries and unanswered
requests are counted in the run's ``ServerHealth``; after ``stop_after`` requests in a row without an
answer, every call raises ``ServerStalled`` (the run stops, what finished is saved, a rerun resumes).
The API key is read from an environment variable at call time and is never written to results, cache,
logs or errors.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from replab.errors import ConfigError
from replab.harness.protocol import (
    Backend,
    BackendError,
    GenerationParams,
    Response,
    ServerHealth,
    ServerStalled,
    current_health,
)

RETRY_STATUSES = {408, 409, 429, 500, 502, 503, 504}


@dataclass
class RetryPolicy:
    """``timeout_s``: one request's limit; ``stop_after``: requests in a row left unanswered (timeouts, lost
    connections) after which the server is taken to have stalled and the run stops (0: never)."""

    max_attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    timeout_s: float = 120.0
    stop_after: int = 8


class OpenAIBackend:
    """``POST {base_url}/chat/completions`` on any OpenAI-compatible server (vLLM, SGLang, Ollama,
    llama.cpp server, the OpenAI API)."""

    kind = "openai"

    def __init__(
        self,
        model: str,
        base_url: str = "https://api.openai.com/v1",
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.retry = retry or RetryPolicy()
        self.concurrency = concurrency
        self._semaphore: asyncio.Semaphore | None = None
        self._client = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.calls = 0  # HTTP requests made, retries included
        self.health = ServerHealth()  # used by calls made outside a run (a run brings its own)

    def identity(self) -> dict[str, str]:
        """What a cached response is keyed on (never the key)."""
        return {"backend": self.kind, "model": self.model, "base_url": self.base_url}

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env, "")
        return {"Authorization": f"Bearer {key}"} if key else {}

    async def _get_client(self):
        import httpx

        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:  # a client belongs to one event loop: each
            self._client = httpx.AsyncClient(timeout=self.retry.timeout_s)  # asyncio.run gets its own
            self._semaphore = asyncio.Semaphore(self.concurrency)
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def complete(self, messages: list[dict[str, str]], params: GenerationParams) -> Response:
        import httpx

        client = await self._get_client()
        payload = {"model": self.model, "messages": messages, "temperature": params.temperature,
                   "max_tokens": params.max_tokens, "top_p": params.top_p}  # fmt: skip
        if params.seed is not None:
            payload["seed"] = params.seed
        if params.top_logprobs:
            payload.update(logprobs=True, top_logprobs=params.top_logprobs)
        health = current_health() or self.health
        last_error = ""
        for attempt in range(1, self.retry.max_attempts + 1):
            delay = None
            async with self._semaphore:
                self._check_stall(health)
                start = time.perf_counter()
                self.calls += 1
                try:
                    reply = await client.post(
                        f"{self.base_url}/chat/completions", json=payload, headers=self._headers()
                    )
                except (httpx.TransportError, httpx.TimeoutException) as exc:
                    last_error = f"{type(exc).__name__}"
                    health.no_answer()
                    self._check_stall(health)
                else:
                    health.answered()
                    if reply.status_code == 200:
                        try:
                            return self._parse(reply.json(), time.perf_counter() - start, attempt)
                        except (ValueError, KeyError, IndexError, TypeError) as exc:
                            last_error = f"malformed response body ({type(exc).__name__})"
                    elif should_retry(reply.status_code, reply.headers):
                        last_error = f"HTTP {reply.status_code}"
                        delay = retry_delay(reply.headers)
                    else:
                        raise BackendError(
                            f"{self.base_url} answered HTTP {reply.status_code} for model {self.model}: "
                            f"{_scrub(reply.text[:300], self.api_key_env)}"
                        )
            if attempt < self.retry.max_attempts:
                health.retries += 1
                backoff = min(self.retry.max_delay_s, self.retry.base_delay_s * 2 ** (attempt - 1))
                await asyncio.sleep(delay if delay is not None else random.uniform(0, backoff))
        raise BackendError(
            f"{self.base_url} model {self.model}: gave up after {self.retry.max_attempts} attempts ({last_error})"
        )

    def _check_stall(self, health: ServerHealth) -> None:
        limit = self.retry.stop_after
        if not health.stalled and limit and health.unanswered_in_a_row >= limit:
            health.stalled = (
                f"the server at {self.base_url} answered none of the last {health.unanswered_in_a_row} requests "
                f"within {self.retry.timeout_s:g} s"
            )
        if health.stalled:
            raise ServerStalled(health.stalled)

    @staticmethod
    def _parse(body: dict[str, Any], latency: float, attempts: int) -> Response:
        choice = body["choices"][0]
        text = choice["message"]["content"]
        if not isinstance(text, str):
            raise TypeError("content is not a string")
        usage = body.get("usage") or {}
        content = (choice.get("logprobs") or {}).get("content")
        logprobs = None
        if content:
            logprobs = [{"token": t["token"], "logprob": float(t["logprob"]),
                         "top": {a["token"]: float(a["logprob"]) for a in t.get("top_logprobs") or []}}
                        for t in content]  # fmt: skip
        return Response(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            latency_s=latency,
            attempts=attempts,
            finish_reason=choice.get("finish_reason"),
            raw=body,
            logprobs=logprobs,
        )


def should_retry(status: int, headers: Mapping[str, str]) -> bool:
    """The server's ``x-should-retry`` when it says true or false, else whether the status is a transient one."""
    says = (headers.get("x-should-retry") or "").strip().lower()
    if says in ("true", "false"):
        return says == "true"
    return status in RETRY_STATUSES


def retry_delay(headers: Mapping[str, str]) -> float | None:
    """The wait a server asks for: ``retry-after-ms``, else ``Retry-After`` as seconds or an HTTP date; capped
    at 60 s; None (the backoff's own delay) when it asks for none or for something unreadable."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return min(60.0, max(0.0, float(millis) / 1000))
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return min(60.0, max(0.0, float(value)))
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return None if parsed is None else min(60.0, max(0.0, parsed.timestamp() - time.time()))


def _scrub(text: str, api_key_env: str) -> str:
    key = os.environ.get(api_key_env)
    return text.replace(key, "***") if key else text


def backend_from_string(spec: str, base_url: str | None = None, concurrency: int = 8, **kwargs: Any) -> Backend:
    """``openai:<model>`` (with ``base_url`` for any compatible server) or ``local:smollm2``."""
    kind, _, model = spec.partition(":")
    if kind == "openai" and model:
        return OpenAIBackend(model, base_url or "https://api.openai.com/v1", concurrency=concurrency, **kwargs)
    if spec == "local:smollm2":
        from replab.harness.local import LocalSmolLM2Backend

        return LocalSmolLM2Backend()
    raise ConfigError(f"unknown backend '{spec}'; valid: openai:<model> [--base-url URL], local:smollm2")
