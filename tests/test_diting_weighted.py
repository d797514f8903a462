"""G-Eval's probability-weighted score: from an OpenAI-compatible server's top_logprobs (the FAKE server
scripts them) and from a local model's forced-prefix distribution (a FAKE choice-scoring backend)."""

import asyncio
import math

import pytest

from replab.diting.agents import single_judge
from replab.diting.translation import DitingItem
from replab.diting.weighted import expected_value, token_at
from replab.harness.backends import OpenAIBackend, RetryPolicy
from replab.harness.protocol import GenerationParams, Response
from tests.fake_openai_server import FakeOpenAIServer

ITEM = DitingItem(id="1", dimension="idiom", source="他真是画蛇添足。", candidates={}, key_phrase="画蛇添足")
ANSWER = '{"S": 2, "G1": 1, "G2": 1, "reason": "ok"}'


def _token(text, top):
    return {"token": text, "logprob": math.log(top.get(text, 1e-9)) if text in top else -30.0,
            "top_logprobs": [{"token": t, "logprob": math.log(p)} for t, p in top.items()]}  # fmt: skip


TOKENS = [  # the answer split into tokens, with the alternatives a server would report at each value
    _token('{"S": ', {'{"S": ': 1.0}),
    _token("2", {"2": 0.6, "1": 0.3, "0": 0.1}),
    _token(', "G1": ', {', "G1": ': 1.0}),
    _token("1", {"1": 0.5, "2": 0.5}),
    _token(', "G2": ', {', "G2": ': 1.0}),
    _token("1", {"1": 0.6, " 0": 0.15, "yes": 0.25}),  # whitespace ignored; a non-value alternative dropped
    _token(', "reason": "ok"}', {', "reason": "ok"}': 1.0}),
]
assert "".join(t["token"] for t in TOKENS) == ANSWER


def test_expected_value_and_token_lookup_by_hand():
    assert expected_value({"2": math.log(0.6), "1": math.log(0.3), "0": math.log(0.1)}) == pytest.approx(1.5)
    assert expected_value({"yes": 0.0}) is None
    logprobs = [{"token": "ab"}, {"token": "c"}]
    assert token_at(logprobs, 1)["token"] == "ab" and token_at(logprobs, 2)["token"] == "c"
    assert token_at(logprobs, 3) is None


def test_weighted_single_judge_from_server_top_logprobs():
    with FakeOpenAIServer(responder=lambda messages: {"content": ANSWER, "logprobs": TOKENS}) as server:
        backend = OpenAIBackend("judge", server.base_url, retry=RetryPolicy(2, 0.0, 0.0, 5.0))
        result = asyncio.run(single_judge(backend, ITEM, "He overdid it.", GenerationParams(top_logprobs=5)))
    assert server.requests[0]["body"]["logprobs"] is True and server.requests[0]["body"]["top_logprobs"] == 5
    assert result["scores"]["total"] == 4  # the parsed answer, beside the weighted one
    s = 0.6 * 2 + 0.3 * 1  # hand computation: Σ p(s)·s / Σ p(s) over the allowed values at each value token
    g1 = 0.5 * 1 + 0.5 * 2
    g2 = (0.6 * 1 + 0.15 * 0) / (0.6 + 0.15)
    assert result["weighted"] == pytest.approx({"S": s, "G1": g1, "G2": g2, "total": s + g1 + g2})


def test_without_logprobs_the_parsed_score_stands_alone():
    with FakeOpenAIServer(responder=lambda messages: ANSWER) as server:
        backend = OpenAIBackend("judge", server.base_url, retry=RetryPolicy(2, 0.0, 0.0, 5.0))
        result = asyncio.run(single_judge(backend, ITEM, "x", GenerationParams(top_logprobs=5)))
    assert result["scores"]["total"] == 4 and result["weighted"] is None


class FakeLocalBackend:
    """A FAKE local model for this test: its free answer is never JSON; its forced-prefix distribution is
    scripted per prefix."""

    model = "fake-local"

    def __init__(self):
        self.prefixes = []

    def identity(self):
        return {"backend": "fake", "model": self.model, "base_url": ""}

    async def complete(self, messages, params):
        return Response(text="I think it is quite good!")

    async def choice_logprobs(self, messages, prefix, choices):
        self.prefixes.append(prefix)
        probs = {"S": (0.1, 0.2, 0.7), "G1": (0.5, 0.25, 0.25), "G2": (0.2, 0.6, 0.2)}[prefix.split('"')[-2]]
        return {c: math.log(p) for c, p in zip(choices, probs)}

    async def aclose(self):
        pass


def test_a_local_model_that_writes_no_json_still_gets_a_weighted_score():
    backend = FakeLocalBackend()
    result = asyncio.run(single_judge(backend, ITEM, "x", GenerationParams()))
    assert result["scores"] is None and "no score object" in result["parse_error"]
    assert backend.prefixes == ['{"S": ', '{"S": 2, "G1": ', '{"S": 2, "G1": 0, "G2": ']  # most likely value written
    s, g1, g2 = 0.2 + 1.4, 0.25 + 0.5, 0.6 + 0.4
    assert result["weighted"] == pytest.approx({"S": s, "G1": g1, "G2": g2, "total": s + g1 + g2})
