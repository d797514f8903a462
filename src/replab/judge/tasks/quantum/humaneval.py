"""Qiskit HumanEval, from a file the user supplies (replab does not ship it): a JSON list of
``{task_id, prompt, canonical_solution, test, entry_point, difficulty_scale}``.

Programs run in replab's sandbox, not in-process with ``exec`` as the original harness does. The normal
variant is prompt + completion, then the test's ``check(entry_point)``; the hard variant is the completion
alone. Tasks that need IBM's cloud (``QiskitRuntimeService``, ``qiskit_ibm_runtime``) are reported as
``network_required``, never as model failures."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from replab.core.progress import track
from replab.errors import DataError
from replab.judge.tasks.quantum.sandbox import ALLOWED_IMPORTS, Limits, Outcome, Sandbox
from replab.judge.tasks.quantum.schema import read_task_list

FIELDS = ("task_id", "prompt", "canonical_solution", "test", "entry_point", "difficulty_scale")
CLOUD = re.compile(r"QiskitRuntimeService|qiskit_ibm_runtime|qiskit_ibm_provider|IBMQ\b|ibm_quantum")
HUMANEVAL_IMPORTS = (
    *ALLOWED_IMPORTS, "re", "copy", "json", "string", "operator", "heapq", "bisect", "decimal", "warnings", "time",
    "sympy", "qiskit_ibm_runtime", "qiskit_algorithms", "qiskit_nature",
)  # fmt: skip


def load_humaneval(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    tasks = read_task_list(path, json.loads, "JSON")
    for index, task in enumerate(tasks):
        missing = [f for f in FIELDS if f not in task] if isinstance(task, dict) else list(FIELDS)
        if missing:
            name = task.get("task_id", f"#{index}") if isinstance(task, dict) else f"#{index}"
            raise DataError(f"{path}: task '{name}': missing field '{missing[0]}'")
    return tasks


def program(task: dict[str, Any], completion: str, variant: str = "normal") -> str:
    if variant not in ("normal", "hard"):
        raise DataError(f"variant '{variant}': valid: normal, hard")
    return completion if variant == "hard" else task["prompt"] + completion


def needs_cloud(task: dict[str, Any], completion: str = "") -> bool:
    return bool(CLOUD.search(task["prompt"] + task["test"] + completion))


def run_solution(task: dict[str, Any], completion: str, sandbox: Sandbox, variant: str = "normal",
                 timeout_s: float = 30.0) -> Outcome:  # fmt: skip
    if needs_cloud(task, completion):
        return Outcome(False, "network_required", "the task needs IBM Quantum's cloud service")
    limits = Limits(timeout_s=timeout_s, memory_mb=sandbox.limits.memory_mb)
    return sandbox.run(program(task, completion, variant), task["test"], task["entry_point"], HUMANEVAL_IMPORTS,
                       limits)  # fmt: skip


def revalidate_humaneval(path: str | Path, timeout_s: float = 30.0, variant: str = "normal") -> dict[str, Any]:
    """Run every canonical solution on the installed qiskit; pass count and failures by reason."""
    tasks = load_humaneval(path)
    reasons: Counter = Counter()
    failures = []
    with Sandbox() as sandbox:
        for task in track(tasks, "Qiskit HumanEval references", unit="task"):
            outcome = run_solution(task, task["canonical_solution"], sandbox, variant, timeout_s)
            if outcome.passed:
                reasons["passed"] += 1
            else:
                reasons[outcome.reason] += 1
                failures.append({"task_id": task["task_id"], "reason": outcome.reason, "detail": outcome.detail[:300]})
    return {"tasks": len(tasks), "passed": reasons.pop("passed", 0), "by_reason": dict(reasons), "failures": failures}
