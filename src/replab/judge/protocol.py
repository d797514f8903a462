"""What every LLM backend speaks: a ``Backend`` takes chat messages and ``GenerationParams`` and returns a
``Response``; a call that fails for good raises ``BackendError``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from replab.errors import ReplabError


class BackendError(ReplabError):
    """A call that failed for good (after its retries, or with a non-retryable status)."""


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
