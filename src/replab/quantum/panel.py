"""The agent panel on a quantum answer's explanation: two experts and a judge (AgentEval's debate) score
its precision and its complexity reasoning, with the verifier's execution result given as evidence.
How far the panel's verdict agrees with the verifier is reported (Cohen's κ, AUROC)."""

from __future__ import annotations

import json
import re
from typing import Any

from replab.harness.judging import SAFETY, Transcript, new_tag, quote
from replab.harness.protocol import Backend, GenerationParams

RUBRIC = (
    "Score the explanation that comes with a quantum-computing answer. precision, 0-2: the statements about "
    "the circuit or algorithm are correct and specific (2), mostly right with slips (1), or wrong or vague (0). "
    "complexity, 0-2: gate counts, depth, query or iteration counts are reasoned correctly (2), partly (1), not "
    "at all or wrongly (0). correct: whether the answer itself solves the task; the verifier's execution result "
    "is evidence, not the only consideration."
)
FORMAT = 'Answer with one JSON object only: {"precision": 0|1|2, "complexity": 0|1|2, "correct": "yes"|"no"}'
_OBJECT = re.compile(r"\{[^{}]*\}")


def parse_panel(text: str) -> dict[str, Any] | None:
    for match in reversed(_OBJECT.findall(text)):
        try:
            data = json.loads(match)
        except json.JSONDecodeError:
            continue
        if all(k in data for k in ("precision", "complexity", "correct")) and str(data["correct"]).lower() in (
            "yes", "no"):  # fmt: skip
            try:
                precision, complexity = int(data["precision"]), int(data["complexity"])
            except (TypeError, ValueError):
                continue
            if precision in (0, 1, 2) and complexity in (0, 1, 2):
                return {"precision": precision, "complexity": complexity,
                        "correct": str(data["correct"]).lower() == "yes"}  # fmt: skip
    return None


async def panel_review(backend: Backend, prompt: str, answer: str, verdict: dict[str, Any],
                       params: GenerationParams, rounds: int = 2) -> dict[str, Any]:  # fmt: skip
    """Expert 1, expert 2 (seeing expert 1), then the judge (seeing both) until the judge says the experts
    agree or ``rounds`` pass; the judge's scores are final (None where no answer could be parsed)."""
    tag, transcript = new_tag(), Transcript([])
    evidence = "passed" if verdict.get("passed") else f"failed: {verdict.get('reason')} ({verdict.get('detail', '')})"
    task = "\n".join([RUBRIC, quote("TASK", prompt, tag), quote("ANSWER", answer, tag),
                      quote("VERIFIER RESULT", evidence, tag), SAFETY])  # fmt: skip
    judged, first, second = None, None, None
    for round_ in range(1, rounds + 1):
        seen = f"\n{quote('OTHER EXPERT', json.dumps(second), tag)}" if second else ""
        first = await _ask(backend, "quantum expert 1", f"{task}{seen}\n{FORMAT}", params, transcript, round_)
        second = await _ask(backend, "quantum expert 2",
                            f"{task}\n{quote('EXPERT 1', json.dumps(first), tag)}\n{FORMAT}", params, transcript,
                            round_)  # fmt: skip
        both = quote("EXPERT 1", json.dumps(first), tag) + "\n" + quote("EXPERT 2", json.dumps(second), tag)
        judged = await _ask(backend, "the chief reviewer", f"{task}\n{both}\n{FORMAT}", params, transcript, round_)
        if first is not None and second is not None and first == second:
            break
    return {"scores": judged, "rounds": round_, "responses": transcript.responses}


async def _ask(backend: Backend, role: str, user: str, params: GenerationParams, transcript: Transcript,
               round_: int) -> dict[str, Any] | None:  # fmt: skip
    messages = [{"role": "system", "content": f"You are {role} reviewing answers to quantum-computing tasks."},
                {"role": "user", "content": user}]  # fmt: skip
    response = await backend.complete(messages, params)
    transcript.add(role, round_, response)
    return parse_panel(response.text)
