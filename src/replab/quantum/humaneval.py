"""Qiskit HumanEval (github.com/qiskit-community/qiskit-human-eval), from a file the user supplies (replab
does not ship it): a JSON list of ``{task_id, prompt, canonical_solution, test, entry_point,
difficulty_scale}``.

Programs run as the authors' harness (``scripts/test_solutions.py``) runs them, but in replab's sandbox
instead of an in-process ``exec``: normal variant, prompt + completion + test as one program in one
namespace; hard variant, completion + test without the prompt (the completion is a whole program); then
``check(entry_point)``, 30 s per task. A task is ``network_required`` only when running it asked for an IBM
Quantum account or the network (``sandbox.needs_network``); tasks on ``qiskit_ibm_runtime``'s fake
backends run locally and count."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

from replab.core.progress import track
from replab.errors import DataError
from replab.quantum.sandbox import ALLOWED_IMPORTS, Limits, Outcome, Sandbox
from replab.quantum.schema import read_task_list

FIELDS = ("task_id", "prompt", "canonical_solution", "test", "entry_point", "difficulty_scale")
VARIANTS = ("normal", "hard")
TIMEOUT_S = 30.0  # the official harness's per-task limit
# every module the benchmark's prompts, solutions and tests import, plus the standard library they lean on
HUMANEVAL_IMPORTS = (
    *ALLOWED_IMPORTS, "qiskit_ibm_runtime", "qiskit_ibm_transpiler", "matplotlib", "networkx", "inspect",
    "contextlib", "importlib", "datetime", "re", "copy", "json", "string", "operator", "heapq", "bisect",
    "decimal", "warnings", "time", "sympy", "pylatexenc", "PIL", "seaborn", "graphviz", "rustworkx",
)  # fmt: skip
# imported once by the sandbox's warm worker, so that no task pays for them
PRELOAD = ("qiskit", "qiskit.quantum_info", "qiskit_aer", "qiskit_ibm_runtime", "qiskit_ibm_runtime.fake_provider",
           "matplotlib.pyplot", "networkx")  # fmt: skip
_FENCED = re.compile(r"```[\w+-]*[ \t]*\n(.*?)```", re.S)


def load_humaneval(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    tasks = read_task_list(path, json.loads, "JSON")
    for index, task in enumerate(tasks):
        missing = [f for f in FIELDS if f not in task] if isinstance(task, dict) else list(FIELDS)
        if missing:
            name = task.get("task_id", f"#{index}") if isinstance(task, dict) else f"#{index}"
            raise DataError(f"{path}: task '{name}': missing field '{missing[0]}'")
    return tasks


def check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise DataError(f"variant '{variant}': valid: {', '.join(VARIANTS)}")


def program(task: dict[str, Any], completion: str, variant: str = "normal") -> str:
    """The program the official harness runs: [prompt +] completion + test."""
    check_variant(variant)
    prompt = "" if variant == "hard" else task["prompt"]
    return prompt + "\n" + completion + "\n" + task["test"]


def completion_from_answer(task: dict[str, Any], answer: str, variant: str = "normal") -> str:
    """A model's answer → the completion: the last fenced block (else the text). In the normal variant a
    full re-statement of the function is kept as is (it redefines the prompt's), a body is indented under
    the prompt's signature when the model wrote it flush left."""
    check_variant(variant)
    blocks = _FENCED.findall(answer)
    code = (blocks[-1] if blocks else answer).strip("\n")
    if variant == "hard" or re.search(rf"^(async\s+)?def\s+{re.escape(task['entry_point'])}\s*\(", code, re.M):
        return code + "\n"
    lines = code.splitlines()
    first = next((line for line in lines if line.strip()), "")
    if first and not first[0].isspace():
        lines = [("    " + line) if line.strip() else line for line in lines]
    return "\n".join(lines) + "\n"


def calls_check(test: str) -> bool:
    """Whether the test calls ``check(...)`` itself at top level (the hard variant's tests do)."""
    try:
        tree = ast.parse(test)
    except SyntaxError:
        return False
    calls = [node.value for node in tree.body if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)]
    return any(isinstance(call.func, ast.Name) and call.func.id == "check" for call in calls)


def run_completion(task: dict[str, Any], completion: str, sandbox: Sandbox, variant: str = "normal",
                   timeout_s: float = TIMEOUT_S) -> Outcome:  # fmt: skip
    """The official harness calls ``check(entry_point)`` after the program even when the test already did;
    that second, identical run is skipped here, so the time limit covers one check, as the authors meant."""
    limits = Limits(timeout_s=timeout_s, memory_mb=sandbox.limits.memory_mb)
    return sandbox.run_program(program(task, completion, variant), task["entry_point"], HUMANEVAL_IMPORTS, limits,
                               call_check=not calls_check(task["test"]))  # fmt: skip


def humaneval_sandbox() -> Sandbox:
    return Sandbox(preload=PRELOAD)


def check_references(path: str | Path, variant: str = "normal", timeout_s: float = TIMEOUT_S,
                     items: str | Path | None = None) -> dict[str, Any]:  # fmt: skip
    """Run every canonical solution on the installed qiskit: the full report (per task: passed, reason,
    detail, seconds), counts by reason and by ``difficulty_scale``, versions and wall time. ``items``: a JSON
    lines file each task's result is appended to as it finishes; a rerun skips the tasks it holds."""
    from replab.quantum.versions import versions

    check_variant(variant)
    if not timeout_s > 0:
        raise DataError(f"timeout {timeout_s!r}: expected seconds > 0")
    tasks = load_humaneval(path)
    identity = {"data_sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16], "variant": variant,
                "timeout_s": timeout_s}  # fmt: skip
    finished = _finished_items(Path(items), identity) if items else {}
    results = []
    start = time.perf_counter()
    with humaneval_sandbox() as sandbox, open(items or os.devnull, "a") as log:
        for task in track(tasks, f"Qiskit HumanEval references ({variant})", unit="task"):
            if task["task_id"] in finished:
                results.append(finished[task["task_id"]])
                continue
            outcome = run_completion(task, task["canonical_solution"], sandbox, variant, timeout_s)
            results.append({"task_id": task["task_id"], "difficulty": task["difficulty_scale"],
                            "passed": outcome.passed, "reason": outcome.reason, "detail": outcome.detail[:500],
                            "seconds": round(outcome.seconds, 3), "isolation": outcome.isolation})  # fmt: skip
            log.write(json.dumps({**identity, **results[-1]}) + "\n")
            log.flush()
    difficulty: dict[str, Counter] = {}
    for row in results:
        counts = difficulty.setdefault(row["difficulty"], Counter())
        counts["tasks"] += 1
        counts["passed"] += row["passed"]
    return {
        "data": str(path), "variant": variant, "tasks": len(results), "passed": sum(r["passed"] for r in results),
        "by_reason": dict(Counter(r["reason"] for r in results if not r["passed"])),
        "by_difficulty": {k: dict(v) for k, v in difficulty.items()},
        "wall_seconds": round(time.perf_counter() - start, 1), "timeout_s": timeout_s, "versions": versions(),
        "results": results,
    }  # fmt: skip


def _finished_items(path: Path, identity: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The results already in ``path`` by task id; lines of another data file, variant or timeout are refused;
    a last line cut short by a kill is dropped."""
    if not path.exists():
        return {}
    raw = path.read_bytes()
    whole = raw[: raw.rfind(b"\n") + 1]
    if len(whole) != len(raw):  # a line cut short by a kill: the next append starts on a fresh line
        with open(path, "r+b") as handle:
            handle.truncate(len(whole))
    found = {}
    for number, line in enumerate(whole.decode(errors="replace").splitlines(), 1):
        try:
            row = json.loads(line)
        except ValueError:
            raise DataError(f"{path}:{number}: not a JSON line") from None
        if {k: row.get(k) for k in identity} != identity:
            raise DataError(f"{path}:{number}: results of another data file, variant or timeout "
                            f"({ {k: row.get(k) for k in identity} }); give another --out")  # fmt: skip
        found[row["task_id"]] = {k: v for k, v in row.items() if k not in identity}
    return found


def official_passes(path: str | Path, task_ids: list[str], variant: str) -> dict[str, bool]:
    """Pass/fail per task from a results file of the official harness (``test_solutions.py -o``): tasks
    of the dataset it tested that are not among its failures passed. With both datasets in the file, the
    one whose name says ``hard`` belongs to the hard variant."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        datasets, failures = list(data["datasets"]), data["failures"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a results file of the official harness ({exc})") from exc
    chosen = [d for d in datasets if ("hard" in Path(d).name) == (variant == "hard")] or datasets
    if not chosen:
        raise DataError(f"{path}: field 'datasets': empty")
    failed = {f["task_id"] for f in failures if f.get("dataset") == chosen[0]}
    return {task_id: task_id not in failed for task_id in task_ids}


def compare(report: dict[str, Any], official: dict[str, bool]) -> list[dict[str, Any]]:
    """The tasks where replab and the official harness disagree."""
    return [{"task_id": r["task_id"], "replab": "pass" if r["passed"] else r["reason"],
             "official": "pass" if official.get(r["task_id"]) else "fail", "detail": r["detail"][:160]}
            for r in report["results"] if r["passed"] != official.get(r["task_id"], False)]  # fmt: skip


def summary_text(report: dict[str, Any], disagreements: list[dict[str, Any]] | None = None,
                 official: dict[str, bool] | None = None) -> str:  # fmt: skip
    """One screen: counts, reasons, per difficulty, the failures, and the disagreements with the official run."""
    lines = [f"Qiskit HumanEval ({report['variant']}), {report['data']}: {report['passed']} / {report['tasks']} "
             f"reference solutions pass in {report['wall_seconds']:g} s "
             f"({', '.join(f'{k} {v}' for k, v in report['versions'].items())})"]  # fmt: skip
    if report["by_reason"]:
        lines.append(
            "failures by reason: "
            + ", ".join(f"{k} {v}" for k, v in sorted(report["by_reason"].items(), key=lambda kv: -kv[1]))
        )
    lines.append("by difficulty: " + ", ".join(f"{k} {v['passed']}/{v['tasks']}"
                                               for k, v in report["by_difficulty"].items()))  # fmt: skip
    for row in report["results"]:
        if not row["passed"]:
            lines.append(f"  {row['task_id']:<24} {row['reason']:<16} {row['detail'][:80]}")
    if official is not None:
        lines.append(f"official harness: {sum(official.values())} / {len(official)} pass; "
                     f"{len(disagreements or [])} task(s) disagree")  # fmt: skip
        for row in disagreements or []:
            lines.append(f"  {row['task_id']:<24} replab {row['replab']:<16} official {row['official']}")
    return "\n".join(lines)


def check_references_job(data: str | Path, variant: str = "normal", timeout_s: float = TIMEOUT_S,
                         out: str | Path | None = None, compare_with: str | Path | None = None) -> str:  # fmt: skip
    """``replab quantum humaneval``: the reference check, its full JSON report in ``out`` (each task also written
    to ``<out>.items.jsonl`` as it finishes, so a rerun resumes), and the tasks where the official harness's
    results file ``compare_with`` disagrees; returns the summary text."""
    import json

    from replab.core.paths import check_file_out

    out = check_file_out(out, "--out") if out else None
    tasks = [t["task_id"] for t in load_humaneval(data)]
    official = official_passes(compare_with, tasks, variant) if compare_with else None
    items = out.with_name(out.name + ".items.jsonl") if out else None
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
    report = check_references(data, variant, timeout_s, items)
    disagreements = compare(report, official) if official is not None else None
    if out:
        out.write_text(json.dumps({**report, "disagreements": disagreements}, indent=1))
    return summary_text(report, disagreements, official) + (f"\nreport: {out}" if out else "")
