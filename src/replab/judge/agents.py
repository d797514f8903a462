"""AgentEval (DITING): two experts and a judge debate a translation's scores; plus the single-judge baseline.

Each round, expert 1 scores (seeing expert 2's previous answer), expert 2 scores (seeing expert 1's
answer of this round), and the judge, who sees both, says whether they agree and gives scores. The
debate stops at consensus or after ``max_rounds``; the judge's last scores are final. Every raw
response and its token usage is kept for the per-item log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from replab.judge.backends import GenerationParams, Response
from replab.judge.tasks.translation import (
    DIMENSIONS,
    SAFETY,
    SCORE_FORMAT,
    DitingItem,
    ParseError,
    new_tag,
    parse_scores,
    quote,
    rubric,
    task_block,
)

JUDGE_FORMAT = (
    'Answer with one JSON object only: {"judge": "yes" if the two experts agree on all three scores else "no", '
    '"S": 0|1|2, "G1": 0|1|2, "G2": 0|1|2, "reason": "<one sentence>"}'
)
REASK = "Your answer did not contain the required JSON object. Answer again with the JSON object only."


@dataclass
class Transcript:
    responses: list[dict[str, Any]]

    def add(self, role: str, round_: int, response: Response) -> None:
        self.responses.append({"role": role, "round": round_, **response.to_dict()})


async def ask_scores(backend, messages: list[dict[str, str]], params: GenerationParams, transcript: Transcript,
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


async def single_judge(backend, item: DitingItem, candidate: str, params: GenerationParams,
                       with_reference: bool = False) -> dict[str, Any]:  # fmt: skip
    """The baseline: the same rubric and task, one judge, one call (plus a re-ask if malformed)."""
    tag, transcript = new_tag(), Transcript([])
    user = (
        f"{rubric(DIMENSIONS[item.dimension])}\n\n{task_block(item, candidate, tag, with_reference)}\n\n{SCORE_FORMAT}"
    )
    scores = await ask_scores(backend, [_system("a translation judge"), {"role": "user", "content": user}],
                              params, transcript, "judge", 1)  # fmt: skip
    return {"scores": scores, "rounds": 1, "responses": transcript.responses}


async def agent_eval(backend, item: DitingItem, candidate: str, params: GenerationParams,
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
    scores = {k: verdict[k] for k in ("S", "G1", "G2", "total")}
    return {"scores": scores, "rounds": round_, "consensus": consensus, "responses": transcript.responses}
