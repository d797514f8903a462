"""DITING as tasks: the dataset of (item, system) pairs, the translate solver, and one scorer per metric
(BLEU, chrF++, COMET, the single judge, AgentEval), registered by name."""

from __future__ import annotations

import sys
from typing import Any

from replab.diting.translation import DitingItem, sentence_metrics
from replab.errors import DataError
from replab.harness.protocol import Backend, GenerationParams
from replab.harness.task import Sample, Solver

TRANSLATE_PROMPT = (
    "Translate the Chinese web-novel sentence into natural, faithful English. Keep names consistent, render "
    "idioms and terms idiomatically, restore omitted subjects from the context. Reply with the translation only."
)
WITHHELD = "[source withheld"


def translate_solver(backend: Backend, params: GenerationParams) -> Solver:
    """The system under test: one call per item; its translation joins the item's candidates."""

    async def solve(record: Sample) -> dict[str, Any]:
        if record["source"].startswith(WITHHELD):
            raise DataError("the source sentence is withheld in this data; nothing to translate")
        context = f"Context: {record['context']}\n" if record["context"] else ""
        messages = [{"role": "system", "content": TRANSLATE_PROMPT},
                    {"role": "user", "content": f"{context}Sentence: {record['source']}"}]  # fmt: skip
        response = await backend.complete(messages, params)
        return {"translation": response.text.strip(), "responses": [response.to_dict()]}

    return solve


def pairs(items: list[DitingItem], translations: dict[str, dict[str, Any]], system: str | None) -> list[Sample]:
    """One sample per (item, system): the item's candidates plus the translated system's output."""
    out = []
    for item in items:
        candidates = dict(item.candidates)
        done = translations.get(item.id)
        if system and done and not done.get("error"):
            candidates[system] = done["translation"]
        for name, text in candidates.items():
            out.append({"id": f"{item.id}::{name}", "item": vars(item), "system": name, "candidate": text})
    return out


class _Scorer:
    name = ""
    needs_backend = False
    outputs: tuple[str, ...] = ()

    def __init__(self, backend: Backend | None = None, params: GenerationParams | None = None,
                 with_reference: bool = False) -> None:  # fmt: skip
        self.backend, self.params, self.with_reference = backend, params or GenerationParams(), with_reference


class _StringScorer(_Scorer):
    """A sacrebleu sentence metric of the candidate against the item's reference (named by ``self.name``)."""

    async def __call__(self, sample: Sample, solved: dict[str, Any]) -> dict[str, Any]:
        item = DitingItem(**sample["item"])
        if not item.reference:
            return {"missing": {self.name: "no reference translation"}}
        return {"scores": {self.name: sentence_metrics(sample["candidate"], item.reference)[self.name]}}


class BleuScorer(_StringScorer):
    """Sentence BLEU (sacrebleu, effective order)."""

    name = "bleu"
    outputs = ("bleu",)


class ChrfScorer(_StringScorer):
    """Sentence chrF++ (sacrebleu, word order 2)."""

    name = "chrf"
    outputs = ("chrf",)


class CometScorer(_Scorer):
    """COMET where unbabel-comet and its model load; otherwise every pair records why it is missing."""

    name = "comet"
    outputs = ("comet",)

    def __init__(self, **context: Any) -> None:
        from replab.diting.translation import Comet

        super().__init__(**context)
        self.comet = Comet()
        if not self.comet.available:
            print(f"notice: COMET skipped: {self.comet.reason}", file=sys.stderr)

    async def __call__(self, sample: Sample, solved: dict[str, Any]) -> dict[str, Any]:
        item = DitingItem(**sample["item"])
        if not self.comet.available:
            return {"missing": {"comet": self.comet.reason}}
        if not item.reference or item.source.startswith(WITHHELD):
            return {"missing": {"comet": "no reference or no source"}}
        return {"scores": {"comet": self.comet.score(item.source, sample["candidate"], item.reference)}}


class SingleJudgeScorer(_Scorer):
    """The single-judge baseline: the parsed 0–6 total and G-Eval's probability-weighted total beside it."""

    name = "single"
    needs_backend = True
    outputs = ("single", "single_weighted")

    async def __call__(self, sample: Sample, solved: dict[str, Any]) -> dict[str, Any]:
        from replab.diting.agents import single_judge

        item = DitingItem(**sample["item"])
        result = await single_judge(self.backend, item, sample["candidate"], self.params, self.with_reference)
        scores, missing = {}, {}
        if result["scores"] is not None:
            scores["single"] = result["scores"]["total"]
        else:
            missing["single"] = f"unparseable answer: {result['parse_error']}"
        if result["weighted"] is not None:
            scores["single_weighted"] = result["weighted"]["total"]
            scores["single_weighted_detail"] = result["weighted"]
        else:
            missing["single_weighted"] = "the backend gave no token probabilities"
        return {"scores": scores, "missing": missing, "responses": result["responses"]}


class AgentEvalScorer(_Scorer):
    """AgentEval: two experts and a judge debate until consensus (at most 4 rounds)."""

    name = "agenteval"
    needs_backend = True
    outputs = ("agenteval",)

    async def __call__(self, sample: Sample, solved: dict[str, Any]) -> dict[str, Any]:
        from replab.diting.agents import agent_eval

        item = DitingItem(**sample["item"])
        result = await agent_eval(self.backend, item, sample["candidate"], self.params, self.with_reference)
        return {"scores": {"agenteval": result["scores"]["total"], "agenteval_detail": result["scores"]},
                "rounds": result["rounds"], "responses": result["responses"]}  # fmt: skip


# DITING's scorers by ``--metrics`` name
SCORERS: dict[str, type] = {cls.name: cls for cls in (BleuScorer, ChrfScorer, CometScorer, SingleJudgeScorer,
                                                      AgentEvalScorer)}  # fmt: skip
