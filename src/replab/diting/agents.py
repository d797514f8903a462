"""AgentEval (DITING): two experts and a judge debate a translation's scores; plus the single-judge baseline.

Each round, expert 1 scores (seeing expert 2's previous answer), expert 2 scores (seeing expert 1's
answer of this round), and the judge, who sees both, says whether they agree and gives scores. The
debate stops at consensus or after ``max_rounds``; the judge's last scores are final. Every raw
response and its token usage is kept for the per-item log.
"""

from __future__ import annotations

import json
from typing import Any

from replab.diting.translation import (
    DIMENSIONS,
    FIELDS,
    SAFETY,
    SCORE_FORMAT,
    DitingItem,
    ParseError,
    apply_rules,
    new_tag,
    parse_scores,
    quote,
    rubric,
    score_offsets,
    task_block,
)
from replab.diting.weighted import weighted_by_forcing, weighted_from_logprobs
from replab.harness.judging import Transcript
from replab.harness.protocol import Backend, GenerationParams, can_score_choices

JUDGE_FORMAT = (
    'Answer with one JSON object only: {"judge": "yes" if the two experts agree on all three scores else "no", '
    '"S": 0|1|2, "G1": 0|1|2, "G2": 0|1|2, "reason": "<one sentence>"}'
)
REASK = "Your answer did not contain the required JSON object. Answer again with the JSON object only."


async def ask_scores(backend: Backend, messages: list[dict[str, str]], params: GenerationParams, transcript: Transcript,
                     role: str, round_: int, extra: tuple[str, ...] = ()) -> dict[str, Any]:  # fmt: skip
    """One call, parsed; a malformed answer gets exactly one re-ask."""
    response = await backend.complete(messages, params)
    transcript.add(role, round_, response)
    try:
        return parse_scores(response.text, extra)
    except ParseError:
        messages = [*messages, {"role": "assistant", "content": response.text}, {"role": "user", "content": REASK}]
        response = await backend.complete(messages, params)
        transcript.add(f"{role} (re-ask)", round_, response)
        return parse_scores(response.text, extra)


def _system(role: str) -> dict[str, str]:
    return {
        "role": "system",
        "content": f"You are {role} evaluating a Chinese-to-English web-novel translation. {SAFETY}",
    }


def _scores_text(scores: dict[str, Any]) -> str:
    return json.dumps({k: scores[k] for k in ("S", "G1", "G2", "reason") if k in scores}, ensure_ascii=False)


async def single_judge(backend: Backend, item: DitingItem, candidate: str, params: GenerationParams,
                       with_reference: bool = False) -> dict[str, Any]:  # fmt: skip
    """The baseline: the same rubric and task, one judge, one call (plus a re-ask if malformed).

    ``weighted`` is G-Eval's probability-weighted score: from the answer's token log-probabilities where
    the backend returns them, else from the model's own distribution after a forced prefix where the
    backend can give one (a local model), else None. An answer that cannot be parsed still scores when
    the weighted score exists; ``parse_error`` then says why the parsed score is missing."""
    tag, transcript = new_tag(), Transcript([])
    user = (
        f"{rubric(DIMENSIONS[item.dimension])}\n\n{task_block(item, candidate, tag, with_reference)}\n\n{SCORE_FORMAT}"
    )
    messages = [_system("a translation judge"), {"role": "user", "content": user}]
    scores, parse_error, weighted = None, None, None
    try:
        scores = await ask_scores(backend, messages, params, transcript, "judge", 1)
        last = transcript.responses[-1]
        weighted = weighted_from_logprobs(last.get("logprobs"), score_offsets(last["text"]))
    except ParseError as exc:
        parse_error = str(exc)
    if weighted is None and can_score_choices(backend):
        weighted = await weighted_by_forcing(backend, messages, FIELDS)
    if scores is None and weighted is None:
        raise ParseError(parse_error)
    return {"scores": scores, "weighted": apply_rules(weighted) if weighted else None, "parse_error": parse_error,
            "rounds": 1, "responses": transcript.responses}  # fmt: skip


async def agent_eval(backend: Backend, item: DitingItem, candidate: str, params: GenerationParams,
                     with_reference: bool = False, max_rounds: int = 4) -> dict[str, Any]:  # fmt: skip
    tag, transcript = new_tag(), Transcript([])
    task = f"{rubric(DIMENSIONS[item.dimension])}\n\n{task_block(item, candidate, tag, with_reference)}"
    expert1 = expert2 = verdict = None
    for round_ in range(1, max_rounds + 1):
        seen = f"\n\n{quote('EXPERT 2 PREVIOUS SCORES', _scores_text(expert2), tag)}" if expert2 else ""
        expert1 = await ask_scores(
            backend, [_system("translation expert 1"),
                      {"role": "user", "content": f"{task}{seen}\n\nKeep your view unless the other expert's argument "
                                                  f"convinces you.\n{SCORE_FORMAT}"}],
            params, transcript, "expert1", round_,
        )  # fmt: skip
        expert2 = await ask_scores(
            backend, [_system("translation expert 2"),
                      {"role": "user", "content": f"{task}\n\n{quote('EXPERT 1 SCORES', _scores_text(expert1), tag)}"
                                                  f"\n\nKeep your view unless expert 1's argument convinces you.\n"
                                                  f"{SCORE_FORMAT}"}],
            params, transcript, "expert2", round_,
        )  # fmt: skip
        both = "\n".join(
            quote(f"EXPERT {n} SCORES", _scores_text(scores), tag) for n, scores in ((1, expert1), (2, expert2))
        )
        verdict = await ask_scores(
            backend, [_system("the chief reviewer, who weighs the experts' arguments and proposes nothing new"),
                      {"role": "user", "content": f"{task}\n\n{both}\n\n{JUDGE_FORMAT}"}],
            params, transcript, "judge", round_, extra=("judge",),
        )  # fmt: skip
        if str(verdict["judge"]).strip().lower() == "yes":
            break
    consensus = str(verdict["judge"]).strip().lower() == "yes"
    scores = {k: verdict[k] for k in (*FIELDS, "total")}
    return {"scores": scores, "rounds": round_, "consensus": consensus, "responses": transcript.responses}
