"""``replab quantum run --task qiskit-humaneval``: score a model on Qiskit HumanEval as its authors define it.

The model is given the task's ``prompt``: in the normal variant a signature and docstring to complete, in
the hard variant a plain-language request whose answer is a whole program with its imports. The answer's
last fenced block is the completion; it runs with the test in the sandbox (``humaneval.run_completion``).
Reported per ``difficulty_scale``: pass@1 and pass@k (unbiased estimator), failure reasons; resume by
item id, footprint, report and chart, as ``--task quantum``. The solver asks the model; the ``execution``
scorer runs the completion with the task's test."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from replab.core.plots import pyplot, save_figure
from replab.core.run import Run
from replab.errors import ConfigError
from replab.harness.backends import RetryPolicy
from replab.harness.evaluate import BackendSpec, evaluate_in_run
from replab.harness.protocol import Backend, GenerationParams
from replab.harness.task import Task
from replab.metrics.passk import pass_rates
from replab.quantum import humaneval as he
from replab.quantum.prompts import SYSTEM, humaneval_prompt
from replab.quantum.versions import versions


@dataclass
class HumanEvalRunConfig:
    data: str = ""  # the Qiskit HumanEval JSON file (normal or hard)
    variant: str = "normal"
    backend: str = "local:smollm2"
    base_url: str | None = None
    samples: int = 1
    temperature: float | None = None  # None: 0, or 0.8 when samples > 1 (pass@k needs varied answers)
    max_tokens: int = 1024
    concurrency: int = 4
    limit: int | None = None
    timeout_s: float = he.TIMEOUT_S

    def __post_init__(self) -> None:
        if self.temperature is None:
            self.temperature = 0.8 if self.samples > 1 else 0.0


class ExecutionScorer:
    """Runs the completion with the task's test in one warm sandbox shared by all items; executions run off the
    event loop, one at a time."""

    name, outputs, needs_backend = "execution", ("passed",), False

    def __init__(self, by_id: dict[str, dict], variant: str, timeout_s: float) -> None:
        self.sandbox, self.lock = he.humaneval_sandbox(), asyncio.Lock()
        self.by_id, self.variant, self.timeout_s = by_id, variant, timeout_s

    async def __call__(self, sample: dict[str, Any], solved: dict[str, Any]) -> dict[str, Any]:
        async with self.lock:
            outcome = await asyncio.to_thread(he.run_completion, self.by_id[sample["task_id"]], solved["completion"],
                                              self.sandbox, self.variant, self.timeout_s)  # fmt: skip
        return {"scores": {"passed": float(outcome.passed)}, "passed": outcome.passed, "reason": outcome.reason,
                "detail": outcome.detail[:500], "seconds": round(outcome.seconds, 3),
                "isolation": outcome.isolation}  # fmt: skip


def _solver(backend: Backend, config: HumanEvalRunConfig, by_id: dict[str, dict]):
    async def solve(sample: dict[str, Any]) -> dict[str, Any]:
        task = by_id[sample["task_id"]]
        messages = [{"role": "system", "content": SYSTEM},
                    {"role": "user", "content": humaneval_prompt(task, config.variant)}]  # fmt: skip
        params = GenerationParams(temperature=config.temperature, max_tokens=config.max_tokens, seed=sample["sample"])
        response = await backend.complete(messages, params)
        completion = he.completion_from_answer(task, response.text, config.variant)
        return {"task_id": task["task_id"], "difficulty": task["difficulty_scale"], "completion": completion,
                "response": response.to_dict()}  # fmt: skip

    return solve


def run_humaneval(config: HumanEvalRunConfig, out: str | Path, retry: RetryPolicy | None = None) -> dict[str, Any]:
    if not config.data:
        raise ConfigError("--task qiskit-humaneval needs --data FILE (the benchmark's JSON, normal or hard)")
    tasks = he.load_humaneval(config.data)  # checked before the Run folder exists
    he.check_variant(config.variant)
    out = Path(out)
    digest = hashlib.sha256(Path(config.data).read_bytes()).hexdigest()[:16]
    settings = {**asdict(config), "data_sha256": digest, "versions": versions()}
    with Run(out, settings, kind="judge-qiskit-humaneval", mutable=("concurrency", "limit", "versions", "data")) as run:
        by_id = {t["task_id"]: t for t in tasks}
        dataset = [{"id": f"{t['task_id']}#{k}", "task_id": t["task_id"], "sample": k}
                   for t in tasks for k in range(config.samples)]  # fmt: skip

        def task(backend: Backend | None) -> Task:
            execute = ExecutionScorer(by_id, config.variant, config.timeout_s)
            return Task("qiskit-humaneval", dataset, _solver(backend, config, by_id), [execute],
                        cleanup=[execute.sandbox.close])  # fmt: skip

        backend = BackendSpec(config.backend, config.base_url, out / "cache.sqlite", retry)
        results = evaluate_in_run(run, task, backend, config.concurrency, config.limit).records
        summary = summarise(results, config.samples)
        summary.update(variant=config.variant, data=config.data, versions=settings["versions"])
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
        (run.artifacts / "report.md").write_text(report(summary))
        plot(summary, run.artifacts / "pass_by_difficulty.png")
    return summary


def summarise(results: dict[str, dict[str, Any]], samples: int) -> dict[str, Any]:
    """Per difficulty and overall: tasks, pass@1 / pass@k over the tasks measured, failure reasons."""
    by_task: dict[str, list[dict]] = defaultdict(list)
    for record in results.values():
        if not record.get("error"):
            by_task[record["task_id"]].append(record)
    groups: dict[str, list[list[dict]]] = defaultdict(list)
    for records in by_task.values():
        groups[records[0]["difficulty"]].append(records)
        groups["all"].append(records)
    table = {}
    for name in [*sorted(g for g in groups if g != "all"), "all"]:
        rows = groups.get(name)
        if rows:
            flat = [r for records in rows for r in records]
            table[name] = {"tasks": len(rows), **pass_rates([[r["passed"] for r in rs] for rs in rows], samples),
                           "reasons": dict(Counter(r["reason"] for r in flat if not r["passed"]))}  # fmt: skip
    errors = sum(1 for r in results.values() if r.get("error"))
    return {"table": table, "items": len(results), "errors": errors, "samples": samples}


def report(summary: dict[str, Any]) -> str:
    ks = [c for c in next(iter(summary["table"].values()), {}) if c.startswith("pass@")]
    lines = [f"Qiskit HumanEval ({summary.get('variant')}), {summary.get('data')}: {summary['items']} items, "
             f"{summary['samples']} sample(s) per task", "",
             "| difficulty | tasks | " + " | ".join(ks) + " | failure reasons |",
             "|---" * (len(ks) + 3) + "|"]  # fmt: skip
    for name, row in summary["table"].items():
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(row["reasons"].items(), key=lambda kv: -kv[1]))
        lines.append(f"| {name} | {row['tasks']} | " + " | ".join(f"{row[k]:.3f}" for k in ks) + f" | {reasons} |")
    lines.append(f"\nVersions: {summary.get('versions')}; item errors: {summary['errors']}")
    return "\n".join(lines) + "\n"


def plot(summary: dict[str, Any], path: Path) -> Path:
    plt = pyplot()
    names = list(summary["table"])
    ks = [c for c in summary["table"][names[0]] if c.startswith("pass@")] if names else []
    fig, ax = plt.subplots(figsize=(1.3 * max(len(names), 1) + 2, 3.4))
    width = 0.8 / max(len(ks), 1)
    for j, k in enumerate(ks):
        ax.bar([i + (j - (len(ks) - 1) / 2) * width for i in range(len(names))],
               [summary["table"][n][k] for n in names], width, label=k)  # fmt: skip
    ax.set_xticks(range(len(names)), [f"{n}\nn={summary['table'][n]['tasks']}" for n in names], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("fraction of tasks passing")
    ax.set_title(f"Qiskit HumanEval ({summary.get('variant')})", fontsize=9)
    if ks:
        ax.legend(fontsize=8)
    return save_figure(fig, path)
