"""G-Eval's probability-weighted score (Liu et al. 2023): instead of the one value a judge wrote, the
expectation Σ p(s)·s over the rubric's allowed values, read from the judge's token probabilities.

Two sources: the top log-probabilities an OpenAI-compatible server returns with each generated token
(read at the token where the judge wrote the value), and a local model's own next-token distribution
after a forced prefix (``{"S": `` …), which gives a score even when the model's free answer is not JSON.
"""

from __future__ import annotations

import math
from typing import Any

from replab.harness.protocol import ChoiceScorer, Messages

SCORE_VALUES = {"0": 0, "1": 1, "2": 2}


def expected_value(top: dict[str, float], allowed: dict[str, int] = SCORE_VALUES) -> float | None:
    """Σ p(s)·s / Σ p(s) over the alternatives that spell an allowed value (whitespace ignored); None when
    no alternative does."""
    mass: dict[str, float] = {}
    for token, logprob in top.items():
        key = token.strip()
        if key in allowed:
            mass[key] = mass.get(key, 0.0) + math.exp(logprob)
    total = sum(mass.values())
    return sum(allowed[k] * p for k, p in mass.items()) / total if total > 0 else None


def token_at(logprobs: list[dict[str, Any]], offset: int) -> dict[str, Any] | None:
    """The generated token that covers character ``offset`` of the completion text."""
    position = 0
    for token in logprobs:
        end = position + len(token["token"])
        if position <= offset < end:
            return token
        position = end
    return None


def weighted_from_logprobs(
    logprobs: list[dict[str, Any]] | None, offsets: dict[str, int], allowed: dict[str, int] = SCORE_VALUES
) -> dict[str, float] | None:
    """One expected value per field, read at the token where the field's value was written; None if any
    field cannot be read (the backend gave no log-probabilities, or the value's token has no alternatives)."""
    if not logprobs:
        return None
    out = {}
    for field, offset in offsets.items():
        token = token_at(logprobs, offset)
        if token is None:
            return None
        value = expected_value({token["token"]: token["logprob"], **token.get("top", {})}, allowed)
        if value is None:
            return None
        out[field] = value
    return out


async def weighted_by_forcing(
    backend: ChoiceScorer, messages: Messages, fields: tuple[str, ...], allowed: dict[str, int] = SCORE_VALUES
) -> dict[str, float]:
    """Force the answer ``{"S": <v>, "G1": <v>, …`` field by field: each field's expectation from the
    model's distribution over the allowed values, the most likely value written before the next field."""
    prefix, out = "{", {}
    for i, field in enumerate(fields):
        prefix += f'{", " if i else ""}"{field}": '
        logprobs = await backend.choice_logprobs(messages, prefix, list(allowed))
        out[field] = expected_value(logprobs, allowed)
        prefix += max(logprobs, key=logprobs.get)
    return out
