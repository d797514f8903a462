"""``replab judge run --task quantum``: ask a model every instance ``samples`` times, execute and verify each
answer (feeding the verifier's reason back for up to ``repair`` rounds), let the panel judge the
explanations with the verdict as evidence, and report pass@k, pass@1 after repair, fidelity, resources
and the panel's agreement with the verifier — per kind, public and held-out seeds apart."""

from __future__ import annotations

import asyncio
import json
import platform
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import median
from typing import Any

from replab.core.plots import pyplot, save_figure
from replab.core.run import Run
from replab.judge.backends import RetryPolicy
from replab.judge.protocol import Backend, GenerationParams
from replab.judge.task import Task, run_task
from replab.judge.tasks.quantum.sandbox import Sandbox
from replab.judge.tasks.quantum.schema import KINDS
from replab.judge.tasks.quantum.tasks import Instance, check_answer, load_tasks
from replab.metrics.passk import auroc, cohen_kappa, pass_at_k

SYSTEM = "You are an expert in quantum computing and Qiskit 2.x. Answer exactly in the format the task asks for."
REPAIR = ("Your answer was executed and it failed: {reason} ({detail}). Fix it and answer again in the same "
          "format.")  # fmt: skip


@dataclass
class QuantumRunConfig:
    tasks: str = ""  # a task file; "" = the shipped assets/quantum/tasks.yaml
    backend: str = "local:smollm2"
    base_url: str | None = None
    samples: int = 1
    repair: int = 0
    temperature: float = 0.0  # > 0 for samples > 1
    max_tokens: int = 512
    panel: bool = False
    concurrency: int = 4
    limit: int | None = None


def versions() -> dict[str, str]:
    """Python and every package of the ``quantum`` extra that results depend on."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("qiskit", "qiskit-aer", "qiskit-ibm-runtime", "pylatexenc"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def pass_rates(passes: list[list[bool]], samples: int) -> dict[str, float]:
    """pass@1 and pass@samples over instances (each a list of per-sample passes): the unbiased estimator per
    instance, then the mean; a k is left out when some instance has fewer than k samples."""
    fewest = min(len(p) for p in passes)
    return {f"pass@{k}": sum(pass_at_k(len(p), sum(p), k) for p in passes) / len(passes)
            for k in sorted({1, samples}) if k <= fewest}  # fmt: skip


class _Verifier:
    """One sandbox shared by all items; verification is CPU work, run off the event loop one at a time."""

    def __init__(self) -> None:
        self.sandbox, self.lock = Sandbox(), asyncio.Lock()

    async def __call__(self, instance: Instance, answer: str) -> dict[str, Any]:
        async with self.lock:
            return (await asyncio.to_thread(check_answer, instance, answer, self.sandbox)).to_dict()


def _solver(backend: Backend, config: QuantumRunConfig, by_id: dict[str, Instance], verify: _Verifier,
            panel_backend: Backend | None):  # fmt: skip
    params = GenerationParams(temperature=config.temperature, max_tokens=config.max_tokens)

    async def solve(sample: dict[str, Any]) -> dict[str, Any]:
        instance = by_id[sample["instance"]]
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": instance.prompt}]
        rounds = []
        for round_ in range(config.repair + 1):
            seeded = GenerationParams(**{**asdict(params), "seed": sample["sample"] * 1000 + round_})
            response = await backend.complete(messages, seeded)
            verdict = await verify(instance, response.text)
            rounds.append({"answer": response.text, "verdict": verdict, "response": response.to_dict()})
            if verdict["passed"]:
                break
            messages = [*messages, {"role": "assistant", "content": response.text},
                        {"role": "user", "content": REPAIR.format(**verdict)}]  # fmt: skip
        out = {"kind": instance.kind, "task": instance.task, "held_out": instance.held_out,
               "passed": rounds[0]["verdict"]["passed"], "passed_after_repair": rounds[-1]["verdict"]["passed"],
               "reason": rounds[0]["verdict"]["reason"], "rounds": rounds}  # fmt: skip
        if panel_backend is not None:
            from replab.judge.tasks.quantum.panel import panel_review

            out["panel"] = await panel_review(panel_backend, instance.prompt, rounds[0]["answer"],
                                              rounds[0]["verdict"], GenerationParams(max_tokens=200))  # fmt: skip
        return out

    return solve


def run_quantum(config: QuantumRunConfig, out: str | Path, retry: RetryPolicy | None = None) -> dict[str, Any]:
    from replab.judge.pipeline import make_backend

    out = Path(out)
    settings = {**asdict(config), "versions": versions()}
    with Run(out, settings, kind="judge-quantum", mutable=("concurrency", "limit", "versions")) as run:
        instances = load_tasks(config.tasks or None)
        by_id = {i.id: i for i in instances}
        dataset = [
            {"id": f"{i.id}#{k}", "instance": i.id, "sample": k} for i in instances for k in range(config.samples)
        ]
        backend = make_backend(config.backend, config.base_url, config.concurrency, out / "cache.sqlite", retry)
        verify = _Verifier()
        solver = _solver(backend, config, by_id, verify, backend if config.panel else None)

        concurrency = min(config.concurrency, getattr(backend, "max_concurrency", None) or config.concurrency)

        async def go() -> dict:
            try:
                return await run_task(Task("quantum", dataset, solver), out, concurrency, config.limit)
            finally:
                await backend.aclose()
                verify.sandbox.close()

        with run.phase("evaluate"):
            results = asyncio.run(go())
        run.add_units("items", len(results))
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
