"""``replab judge translate | score | meta``: the DITING evaluation pipeline over runs.

- translate: the system under test translates each item's source; its output joins the item's
  candidates. Items whose source the release withholds are recorded with that error.
- score: every (item, system) pair gets BLEU and chrF++ (when a reference exists), the single-judge
  baseline and/or AgentEval; one JSON line per pair, resumable.
- meta: correlations of each metric with the human total (S + G1 + G2) per pair, with bootstrap CIs.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from replab.core.errors import ConfigError, DataError
from replab.judge.backends import GenerationParams
from replab.judge.cache import CachedBackend, ResponseCache
from replab.judge.runner import read_results, run_items
from replab.judge.tasks.translation import DitingItem, load_items, metric_signatures, sentence_metrics

METRICS = ("bleu", "chrf", "comet", "single", "agenteval")


def load_data(path: str | Path) -> list[DitingItem]:
    """DITING JSON lines, or the official Label Studio export (a JSON list)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.read_text(encoding="utf-8").lstrip().startswith("["):
        from replab.judge.tasks.labelstudio import load_labelstudio

        return load_labelstudio(path)
    return load_items(path)


def make_backend(spec: str, base_url: str | None, concurrency: int, cache_path: Path):
    from replab.judge.backends import backend_from_string

    return CachedBackend(
        backend_from_string(spec, base_url=base_url, concurrency=concurrency), ResponseCache(cache_path)
    )


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False))


TRANSLATE_PROMPT = (
    "Translate the Chinese web-novel sentence into natural, faithful English. Keep names consistent, render "
    "idioms and terms idiomatically, restore omitted subjects from the context. Reply with the translation only."
)


def translate(
    data: str | Path,
    backend_spec: str,
    out: str | Path,
    base_url: str | None = None,
    concurrency: int = 8,
    limit: int | None = None,
    params: GenerationParams | None = None,
) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    items = load_data(data)
    backend = make_backend(backend_spec, base_url, concurrency, out / "cache.sqlite")
    params = params or GenerationParams(max_tokens=256)

    async def solve(record: dict[str, Any]) -> dict[str, Any]:
        if record["source"].startswith("[source withheld"):
            raise DataError("the source sentence is withheld in this data; nothing to translate")
        context = f"Context: {record['context']}\n" if record["context"] else ""
        messages = [{"role": "system", "content": TRANSLATE_PROMPT},
                    {"role": "user", "content": f"{context}Sentence: {record['source']}"}]  # fmt: skip
        response = await backend.complete(messages, params)
        return {"translation": response.text.strip(), "responses": [response.to_dict()]}

    async def go() -> None:
        try:
            await run_items([vars(i) for i in items], solve, out, concurrency, limit, desc="translate")
        finally:
            await backend.aclose()

    asyncio.run(go())
    _write_json(out / "summary.json", {"data": str(data), "backend": backend_spec, "base_url": base_url,
                                       "system": backend.model, "items": len(items[:limit])})  # fmt: skip
    return out


def _pairs(run: Path) -> list[dict[str, Any]]:
    summary = json.loads((run / "summary.json").read_text())
    items = load_data(summary["data"])
    translations = read_results(run / "results.jsonl")
    pairs = []
    for item in items:
        candidates = dict(item.candidates)
        done = translations.get(item.id)
        if done and not done.get("error"):
            candidates[summary["system"]] = done["translation"]
        for system, text in candidates.items():
            pairs.append({"id": f"{item.id}::{system}", "item": vars(item), "system": system, "candidate": text})
    return pairs


def score(run: str | Path, metrics: list[str], judge_spec: str | None = None, base_url: str | None = None,
          concurrency: int = 8, limit: int | None = None, with_reference: bool = False,
          max_tokens: int = 300) -> Path:  # fmt: skip
    from replab.judge.agents import agent_eval, single_judge

    run = Path(run)
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise ConfigError(f"--metrics: unknown {', '.join(unknown)}; valid: {', '.join(METRICS)}")
    needs_judge = {"single", "agenteval"} & set(metrics)
    if needs_judge and not judge_spec:
        raise ConfigError("--judge-backend is required for the single and agenteval metrics")
    backend = make_backend(judge_spec, base_url, concurrency, run / "cache.sqlite") if needs_judge else None
    params = GenerationParams(max_tokens=max_tokens)
    comet = None
    if "comet" in metrics:
        from replab.judge.tasks.translation import Comet

        comet = Comet()
        if not comet.available:
            print(f"notice: COMET skipped: {comet.reason}", file=sys.stderr)

    async def solve(pair: dict[str, Any]) -> dict[str, Any]:
        item = DitingItem(**pair["item"])
        out: dict[str, Any] = {"system": pair["system"], "scores": {}, "responses": {}}
        if {"bleu", "chrf"} & set(metrics) and item.reference:
            out["scores"].update(sentence_metrics(pair["candidate"], item.reference))
        if comet is not None and comet.available and item.reference and not item.source.startswith("[source"):
            out["scores"]["comet"] = comet.score(item.source, pair["candidate"], item.reference)
        if "single" in metrics:
            result = await single_judge(backend, item, pair["candidate"], params, with_reference)
            out["scores"]["single"] = result["scores"]["total"]
            out["responses"]["single"] = result["responses"]
        if "agenteval" in metrics:
            result = await agent_eval(backend, item, pair["candidate"], params, with_reference)
            out["scores"]["agenteval"] = result["scores"]["total"]
            out["scores"]["agenteval_detail"] = result["scores"]
            out["rounds"] = result["rounds"]
            out["responses"]["agenteval"] = result["responses"]
        out["tokens"] = sum(r.get("prompt_tokens", 0) + r.get("completion_tokens", 0)
                            for rs in out["responses"].values() for r in rs)  # fmt: skip
        return out

    folder = run / "scores" / "+".join(sorted(metrics))  # each metric set resumes on its own

    async def go() -> None:
        try:
            await run_items(_pairs(run), solve, folder, concurrency, limit, desc="score")
        finally:
            if backend is not None:
                await backend.aclose()

    asyncio.run(go())
    _write_json(folder / "summary.json", {
        "metrics": metrics, "judge_backend": judge_spec, "base_url": base_url,
        "mode": "reference-aware" if with_reference else "reference-free", "signatures": metric_signatures(),
        "comet": None if comet is None else (comet.model_name if comet.available else f"skipped: {comet.reason}"),
    })  # fmt: skip
    return folder


def meta(run: str | Path, human: str | Path | None = None, n_boot: int = 1000) -> tuple[str, Path]:
    """Correlate each metric with the human total of each (item, system) pair."""
    from replab.judge.meta import format_table, meta_table, plot_table

    run = Path(run)
    scores: dict[str, dict[str, Any]] = {}
    for path in sorted((run / "scores").glob("*/results.jsonl")):  # merge the metric sets, pair by pair
        for key, record in read_results(path).items():
            merged = scores.setdefault(key, {"scores": {}, "error": None})
            merged["scores"].update(record.get("scores", {}))
            merged["error"] = merged["error"] or record.get("error")
    humans: dict[str, float] = {}
    source = human or json.loads((run / "summary.json").read_text())["data"]
    for item in load_data(source):
        for system, values in item.human.items():
            humans[f"{item.id}::{system}"] = sum(values.get(k, 0.0) for k in ("S", "G1", "G2"))
    keys = [k for k, r in scores.items() if k in humans and not r.get("error")]
    if len(keys) < 3:
        raise DataError(f"only {len(keys)} scored pairs have human scores in {source}; need at least 3")
    names = [m for m in METRICS if all(m in scores[k]["scores"] for k in keys)]
    table = meta_table({m: np.array([scores[k]["scores"][m] for k in keys]) for m in names},
                       np.array([humans[k] for k in keys]), n_boot)  # fmt: skip
    text = format_table(table)
    png = plot_table(table, run / "meta.png")
    (run / "meta.json").write_text(json.dumps(table, indent=1))
    return text, png
