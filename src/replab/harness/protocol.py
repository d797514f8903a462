"""What every LLM backend speaks: a ``Backend`` takes chat messages and ``GenerationParams`` and returns a
``Response``; a call that fails for good raises ``BackendError``."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from replab.errors import ReplabError


class BackendError(ReplabError):
    """A call that failed for good (after its retries, or with a non-retryable status)."""


class ServerStalled(BackendError):
    """The server answered none of the last N requests in time: the run stops; what finished is saved."""


@dataclass
class ServerHealth:
    """What the server did during one run, shared by every call of it: retries, requests left unanswered
    (timeouts, lost connections), the current streak of those, items that exhausted their retries, and
    the stall message once a backend has decided the server stopped answering."""

    retries: int = 0
    unanswered: int = 0
    unanswered_in_a_row: int = 0
    gave_up: int = 0
    stalled: str = ""

    def answered(self) -> None:
        self.unanswered_in_a_row = 0

    def no_answer(self) -> None:
        self.unanswered += 1
        self.unanswered_in_a_row += 1

    def postfix(self) -> dict[str, int]:
        """What a progress bar shows beside the count (nothing while all is well)."""
        shown = {"retries": self.retries, "timeouts": self.unanswered, "gave up": self.gave_up}
        return {key: value for key, value in shown.items() if value}


_HEALTH: ContextVar[ServerHealth | None] = ContextVar("replab_server_health", default=None)


def current_health() -> ServerHealth | None:
    """The ``ServerHealth`` of the run this call belongs to (set by ``judge.runner.run_items``), or None."""
    return _HEALTH.get()


def watch_health(health: ServerHealth):
    """Make ``health`` the one the calls of this context (and the tasks it starts) report to; returns the
    token for ``_HEALTH.reset``."""
    return _HEALTH.set(health)


@dataclass(frozen=True)
class GenerationParams:
    temperature: float = 0.0
    max_tokens: int = 512
    top_p: float = 1.0
    seed: int | None = None
    top_logprobs: int = 0  # > 0: ask for the log-probabilities of this many alternatives per generated token


@dataclass
class Response:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    attempts: int = 1
    cached: bool = False
    finish_reason: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    # per generated token: {"token": str, "logprob": float, "top": {alternative: logprob}}; None when the
    # backend gave none
    logprobs: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Messages = list[dict[str, str]]


@runtime_checkable
class Backend(Protocol):
    """An LLM behind ``complete``; ``identity`` is what a cached response is keyed on (never a secret)."""

    @property
    def model(self) -> str: ...

    def identity(self) -> dict[str, str]: ...

    async def complete(self, messages: Messages, params: GenerationParams) -> Response: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class ChoiceScorer(Protocol):
    """A backend that can read its own next-token distribution after a forced assistant prefix (a local
    model's logits): the log-probability of each choice continuing ``prefix``."""

    async def choice_logprobs(self, messages: Messages, prefix: str, choices: list[str]) -> dict[str, float]: ...


def can_score_choices(backend: object) -> bool:
    """Whether ``backend`` (or the backend a wrapper such as the cache holds) offers ``choice_logprobs``."""
    return bool(getattr(backend, "scores_choices", isinstance(backend, ChoiceScorer)))
