"""``replab quantum run --task quantum``: ask a model every instance ``samples`` times, execute and verify each
answer (feeding the verifier's reason back for up to ``repair`` rounds), let the panel judge the
explanations with the verdict as evidence, and report pass@k, pass@1 after repair, fidelity, resources
and the panel's agreement with the verifier — per kind, public and held-out seeds apart.

In the harness's shape: the dataset is (instance, sample) pairs; the solver asks the model (and, with
``repair``, shows it the verifier's reason); the ``execution`` scorer gives the verdict of the first answer and
of the last; the ``panel`` scorer (``panel=true``) grades the explanation with that verdict as evidence."""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import median
from typing import Any

from replab.core.plots import pyplot, save_figure
from replab.core.run import Run
from replab.harness.backends import RetryPolicy
from replab.harness.evaluate import BackendSpec, evaluate_in_run
from replab.harness.protocol import Backend, GenerationParams
from replab.harness.task import Task
from replab.metrics.passk import auroc, cohen_kappa, pass_rates
from replab.quantum.prompts import REPAIR, SYSTEM
from replab.quantum.sandbox import Sandbox
from replab.quantum.schema import KINDS
from replab.quantum.tasks import Instance, check_answer, load_tasks
from replab.quantum.versions import versions


@dataclass
class QuantumRunConfig:
    tasks: str = ""  # a task file; "" = the shipped assets/quantum/tasks.yaml
    backend: str = "local:smollm2"
    base_url: str | None = None
    samples: int = 1
    repair: int = 0
    temperature: float | None = None  # None: 0, or 0.8 when samples > 1 (pass@k needs varied answers)
    max_tokens: int = 512
    panel: bool = False
    concurrency: int = 4
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.temperature is None:
            self.temperature = 0.8 if self.samples > 1 else 0.0


class _Verifier:
    """One sandbox shared by all items; verification is CPU work, run off the event loop one at a time. A verdict
    is kept per (instance, answer), so the scorer never executes an answer the repair loop already ran."""

    def __init__(self) -> None:
        self.sandbox, self.lock, self.seen = Sandbox(), asyncio.Lock(), {}

    async def __call__(self, instance: Instance, answer: str) -> dict[str, Any]:
        async with self.lock:
            key = (instance.id, answer)
            if key not in self.seen:
                self.seen[key] = (await asyncio.to_thread(check_answer, instance, answer, self.sandbox)).to_dict()
            return self.seen[key]


def _solver(backend: Backend, config: QuantumRunConfig, by_id: dict[str, Instance], verify: _Verifier):
    """The model's answer; with ``repair``, failed answers go back with the verifier's reason, up to that many
    times."""
    params = GenerationParams(temperature=config.temperature, max_tokens=config.max_tokens)

    async def solve(sample: dict[str, Any]) -> dict[str, Any]:
        instance = by_id[sample["instance"]]
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": instance.prompt}]
        rounds = []
        for round_ in range(config.repair + 1):
            seeded = GenerationParams(**{**asdict(params), "seed": sample["sample"] * 1000 + round_})
            response = await backend.complete(messages, seeded)
            rounds.append({"answer": response.text, "response": response.to_dict()})
            if round_ == config.repair:
                break
            verdict = await verify(instance, response.text)
            if verdict["passed"]:
                break
            messages = [*messages, {"role": "assistant", "content": response.text},
                        {"role": "user", "content": REPAIR.format(**verdict)}]  # fmt: skip
        return {"kind": instance.kind, "task": instance.task, "held_out": instance.held_out, "rounds": rounds}

    return solve


class ExecutionScorer:
    """The execution verdict of every round's answer; ``passed`` is the first answer's, ``passed_after_repair``
    the last one's."""

    name, outputs, needs_backend = "execution", ("passed", "passed_after_repair"), False

    def __init__(self, by_id: dict[str, Instance], verify: _Verifier) -> None:
        self.by_id, self.verify = by_id, verify

    async def __call__(self, sample: dict[str, Any], solved: dict[str, Any]) -> dict[str, Any]:
        instance = self.by_id[sample["instance"]]
        rounds = [{"answer": r["answer"], "verdict": await self.verify(instance, r["answer"]),
                   "response": r["response"]} for r in solved["rounds"]]  # fmt: skip
        first, last = rounds[0]["verdict"]["passed"], rounds[-1]["verdict"]["passed"]
        return {"scores": {"passed": float(first), "passed_after_repair": float(last)}, "passed": first,
                "passed_after_repair": last, "reason": rounds[0]["verdict"]["reason"], "rounds": rounds}  # fmt: skip


class PanelScorer:
    """The agent panel grades the first answer's explanation, shown the execution verdict as evidence."""

    name, outputs, needs_backend = "panel", ("panel_correct",), True

    def __init__(self, backend: Backend, by_id: dict[str, Instance]) -> None:
        self.backend, self.by_id = backend, by_id

    async def __call__(self, sample: dict[str, Any], solved: dict[str, Any]) -> dict[str, Any]:
        from replab.quantum.panel import panel_review

        first = solved["rounds"][0]
        review = await panel_review(self.backend, self.by_id[sample["instance"]].prompt, first["answer"],
                                    first["verdict"], GenerationParams(max_tokens=200))  # fmt: skip
        correct = (review.get("scores") or {}).get("correct")
        return {"panel": review, "scores": {} if correct is None else {"panel_correct": float(correct)}}


def run_quantum(config: QuantumRunConfig, out: str | Path, retry: RetryPolicy | None = None) -> dict[str, Any]:
    out = Path(out)
    settings = {**asdict(config), "versions": versions()}
    with Run(out, settings, kind="judge-quantum", mutable=("concurrency", "limit", "versions")) as run:
        instances = load_tasks(config.tasks or None)
        by_id = {i.id: i for i in instances}
        dataset = [
            {"id": f"{i.id}#{k}", "instance": i.id, "sample": k} for i in instances for k in range(config.samples)
        ]

        def task(backend: Backend | None) -> Task:
            verify = _Verifier()
            scorers = [ExecutionScorer(by_id, verify), *([PanelScorer(backend, by_id)] if config.panel else [])]
            return Task("quantum", dataset, _solver(backend, config, by_id, verify), scorers,
                        cleanup=[verify.sandbox.close])  # fmt: skip

        backend = BackendSpec(config.backend, config.base_url, out / "cache.sqlite", retry)
        results = evaluate_in_run(run, task, backend, config.concurrency, config.limit).records
        summary = summarise(results, config.samples)
        summary["versions"] = settings["versions"]
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
        (run.artifacts / "report.md").write_text(report(summary))
        plot(summary, run.artifacts / "pass_by_kind.png")
    return summary


def summarise(results: dict[str, dict[str, Any]], samples: int) -> dict[str, Any]:
    """Per kind (and public / held-out): pass@1 and pass@k (unbiased, per instance then averaged), pass@1 after
    repair, mean fidelity, median resource ratios, failure reasons; the panel's agreement with the verifier."""
    by_instance: dict[str, list[dict]] = defaultdict(list)
    for record in results.values():
        if not record.get("error"):
            by_instance[record["id"].rsplit("#", 1)[0]].append(record)
    groups: dict[str, list[list[dict]]] = defaultdict(list)
    for records in by_instance.values():
        kind = records[0]["kind"]
        groups[kind].append(records)
        groups["all"].append(records)
        groups["held-out" if records[0]["held_out"] else "public"].append(records)
    order = [*KINDS, "all", "public", "held-out"]
    table = {name: _group(groups[name], samples) for name in order if groups.get(name)}
    errors = sum(1 for r in results.values() if r.get("error"))
    return {"table": table, "items": len(results), "errors": errors, "panel": _panel_agreement(results)}


def _group(rows: list[list[dict]], samples: int) -> dict[str, Any]:
    flat = [r for records in rows for r in records]
    fidelities = [r["rounds"][0]["verdict"]["fidelity"] for r in flat
                  if isinstance(r["rounds"][0]["verdict"].get("fidelity"), int | float)]  # fmt: skip
    ratios = [r["rounds"][0]["verdict"]["resources"].get("gates_ratio") for r in flat if r["passed"]]
    ratios = [x for x in ratios if isinstance(x, int | float)]
    return {
        "instances": len(rows),
        **pass_rates([[r["passed"] for r in rs] for rs in rows], samples),
        "pass@1_after_repair": sum(r["passed_after_repair"] for r in flat) / len(flat),
        "mean_fidelity": sum(fidelities) / len(fidelities) if fidelities else None,
        "median_gate_ratio": median(ratios) if ratios else None,
        "reasons": dict(Counter(r["reason"] for r in flat if not r["passed"])),
    }  # fmt: skip


def _panel_agreement(results: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    judged = [r for r in results.values() if not r.get("error") and r.get("panel", {}).get("scores")]
    if not judged:
        return None
    verifier = [int(r["passed"]) for r in judged]
    panel = [int(r["panel"]["scores"]["correct"]) for r in judged]
    scores = [r["panel"]["scores"]["precision"] + r["panel"]["scores"]["complexity"] for r in judged]
    return {"items": len(judged), "cohen_kappa": cohen_kappa(panel, verifier), "auroc": auroc(scores, verifier)}


def report(summary: dict[str, Any]) -> str:
    cols = ["instances", "pass@1", "pass@1_after_repair", "mean_fidelity", "median_gate_ratio"]
    lines = ["| group | " + " | ".join(cols) + " | failure reasons |", "|---" * (len(cols) + 2) + "|"]
    for name, row in summary["table"].items():
        cells = [f"{row.get(c):.3f}" if isinstance(row.get(c), float) else str(row.get(c)) for c in cols]
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(row["reasons"].items(), key=lambda kv: -kv[1]))
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {reasons} |")
    panel = summary.get("panel")
    if panel:
        lines.append(f"\nPanel vs verifier on {panel['items']} items: Cohen's κ {panel['cohen_kappa']:.3f}, "
                     f"AUROC {panel['auroc']:.3f}")  # fmt: skip
    lines.append(f"\nVersions: {summary.get('versions')}; item errors: {summary['errors']}")
    return "\n".join(lines) + "\n"


def plot(summary: dict[str, Any], path: Path) -> Path:
    plt = pyplot()

    names = [n for n in summary["table"] if n not in ("public", "held-out")]
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2, 3.4))
    first = [summary["table"][n]["pass@1"] for n in names]
    repaired = [summary["table"][n]["pass@1_after_repair"] for n in names]
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], first, 0.4, label="pass@1")
    ax.bar([i + 0.2 for i in x], repaired, 0.4, label="pass@1 after repair")
    ax.set_xticks(list(x), [f"{n}\nn={summary['table'][n]['instances']}" for n in names], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("fraction verified by execution")
    ax.legend(fontsize=8)
    return save_figure(fig, path)
