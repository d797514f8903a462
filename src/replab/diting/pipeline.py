"""``replab diting translate | score | meta``: the DITING evaluation pipeline; every job is a Run.

- translate: the system under test translates each item's source; its output joins the item's
  candidates. Items whose source the release withholds are recorded with that error.
- score: every (item, system) pair is graded by the chosen scorers (``translation_task.SCORERS``);
  one JSON line per pair, resumable. On a translate run (``--run``) or directly on a data file that
  already holds candidates (``--data FILE --out DIR``).
- meta: each metric correlated with the human total (S + G1 + G2) on every pair it has, with its own n
  and bootstrap CIs; the comparison on the pairs every metric has is a separate table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from replab.core.run import Run, run_kind
from replab.diting import translation_task
from replab.diting.translation import DitingItem, load_items, metric_signatures
from replab.diting.translation_task import SCORERS
from replab.errors import ConfigError, DataError
from replab.harness.backends import RetryPolicy
from replab.harness.evaluate import BackendSpec, evaluate
from replab.harness.protocol import GenerationParams
from replab.harness.runner import read_results
from replab.harness.task import Task, check_metrics, make_scorers

METRICS = tuple(SCORERS)
SOURCE_FILE = "summary.json"  # in a translate (or data) run: where the items come from


def load_data(path: str | Path) -> list[DitingItem]:
    """DITING JSON lines, or the official Label Studio export (a JSON list)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.read_text(encoding="utf-8").lstrip().startswith("["):
        from replab.diting.labelstudio import load_labelstudio

        items = load_labelstudio(path)
    else:
        items = load_items(path)
    if not items:
        raise DataError(f"{path}: holds no items")
    return items


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False))


def translate(
    data: str | Path,
    backend_spec: str,
    out: str | Path,
    base_url: str | None = None,
    concurrency: int = 8,
    limit: int | None = None,
    max_tokens: int = 256,
    quarantine: bool = False,
    retry: RetryPolicy | None = None,
) -> Path:
    out, data = Path(out), Path(data).resolve()
    params = GenerationParams(max_tokens=max_tokens)
    settings = {"data": str(data), "backend": backend_spec, "base_url": base_url, "params": vars(params),
                "concurrency": concurrency, "limit": limit}  # fmt: skip
    with Run(out, settings, kind="judge-translate", mutable=("concurrency", "limit")) as run:
        items = load_data(data)

        def task(backend) -> Task:
            return Task("translate", [vars(i) for i in items], translation_task.translate_solver(backend, params))

        with run.phase("translate"):
            done = evaluate(task, out, BackendSpec(backend_spec, base_url, out / "cache.sqlite", retry), concurrency,
                            limit, quarantine)  # fmt: skip
        results = done.records
        run.add_units("items", len(items[:limit]))
        failed = sum(1 for r in results.values() if r.get("error"))
        _write_json(
            out / SOURCE_FILE,
            {
                "data": str(data),
                "backend": backend_spec,
                "base_url": base_url,
                "system": done.model,
                "items": len(items[:limit]),
                "failed": failed,
            },
        )
        if failed:
            print(f"notice: {failed} of {len(results)} items have an error (see 'error' in results.jsonl)")
    return out


def _source(run: Path, data: str | Path | None) -> dict[str, Any]:
    """Where a run's items come from; ``data`` starts a data-only run (candidates already in the file)."""
    path = run / SOURCE_FILE
    if data is not None:
        if run.exists() and not run.is_dir():
            raise ConfigError(f"{run} is a file, not a run folder; give a folder as --out")
        kind = run_kind(run)
        if kind not in (None, "judge-translate"):
            raise ConfigError(f"{run} holds a '{kind}' run, not a judge run (nothing was changed in it); "
                              "give another --out folder")  # fmt: skip
        if run.is_dir() and not path.exists() and any(run.iterdir()):
            raise ConfigError(f"{run} holds files but no judge run; give a new or empty --out folder")
        data = str(Path(data).resolve())
        if path.exists() and json.loads(path.read_text())["data"] != data:
            raise ConfigError(f"{run} scores {json.loads(path.read_text())['data']}, not {data}: use another --out")
        if not path.exists():
            run.mkdir(parents=True, exist_ok=True)
            _write_json(path, {"data": data, "system": None})
        return json.loads(path.read_text())
    if not path.exists():
        raise ConfigError(f"{run} is not a judge run ({path} is missing): run 'replab judge translate' first, "
                          f"or score a file that holds candidates with --data FILE --out DIR")  # fmt: skip
    return json.loads(path.read_text())


def score(run: str | Path, metrics: str | list[str] = "bleu,chrf,agenteval", judge_spec: str | None = None,
          base_url: str | None = None, concurrency: int = 8, limit: int | None = None, with_reference: bool = False,
          max_tokens: int = 300, data: str | Path | None = None, top_logprobs: int = 5,
          quarantine: bool = False, retry: RetryPolicy | None = None) -> Path:  # fmt: skip
    """Grade every (item, system) pair with ``metrics`` (names, or one comma-separated string); results in
    ``<run>/scores/<metrics>/``. With ``data`` (a file whose items hold candidates), ``run`` is the folder to
    score into."""
    run = Path(run)
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    check_metrics(SCORERS, metrics)
    needs_judge = [m for m in metrics if SCORERS[m].needs_backend]
    if needs_judge and not judge_spec:
        raise ConfigError(f"--judge-backend is required for {', '.join(needs_judge)}")
    source = _source(run, data)
    translations = read_results(run / "results.jsonl", quarantine)
    pairs = translation_task.pairs(load_data(source["data"]), translations, source["system"])
    folder = run / "scores" / "+".join(sorted(metrics))  # each metric set resumes on its own
    mode = "reference-aware" if with_reference else "reference-free"
    settings = {
        "metrics": sorted(metrics),
        "judge_backend": judge_spec,
        "base_url": base_url,
        "mode": mode,
        "max_tokens": max_tokens,
        "top_logprobs": top_logprobs,
        "concurrency": concurrency,
        "limit": limit,
    }
    with Run(folder, settings, kind="judge-score", mutable=("concurrency", "limit")) as job:
        judge = BackendSpec(judge_spec, base_url, run / "cache.sqlite", retry) if needs_judge else None
        params = GenerationParams(max_tokens=max_tokens, top_logprobs=top_logprobs)
        scorers = []

        def task(backend) -> Task:
            context = {"backend": backend, "params": params, "with_reference": with_reference}
            scorers.extend(make_scorers(SCORERS, metrics, **context))
            return Task("score", pairs, scorers=scorers)

        with job.phase("score"):
            results = evaluate(task, folder, judge, concurrency, limit, quarantine).records
        job.add_units("items", len(pairs[:limit]))
        comet = next((s.comet for s in scorers if s.name == "comet"), None)
        _write_json(folder / "summary.json", {
            "metrics": metrics, "judge_backend": judge_spec, "base_url": base_url, "mode": mode,
            "signatures": metric_signatures(), "pairs": len(results),
            "failed": sum(1 for r in results.values() if r.get("error")),
            "comet": None if comet is None else (comet.model_name if comet.available else f"skipped: {comet.reason}"),
        })  # fmt: skip
    return folder


def meta(run: str | Path, human: str | Path | None = None, n_boot: int = 1000) -> tuple[str, Path]:
    """Correlate each metric with the human total of each (item, system) pair it scored."""
    from replab.diting.meta import meta_report

    run = Path(run)
    source = human or _source(run, None)["data"]
    with Run(run / "meta", {"data": str(source), "n_boot": n_boot}, kind="judge-meta") as job:
        with job.phase("meta"):
            text, png, table = meta_report(run, load_data(source), n_boot)
        job.add_units("pairs", max((row["n"] for row in table.values()), default=0))
    return text, png
