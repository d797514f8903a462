"""What a quantum task instance is made of: its prompt, its reference, and the mutants its verifier must
reject."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replab.errors import DataError
from replab.quantum.verify import Constraints, Equivalence

KINDS = ("circuit", "dynamic", "synthesis", "code", "concept")
# why an answer failed: every verifier and the sandbox give one of these
REASONS = ("syntax", "import_denied", "api_drift", "missing_dependency", "missing_entry", "runtime",
           "timeout", "memory", "network_required", "wrong_width", "not_equivalent", "permutation_only",
           "constraint_violated")  # fmt: skip


@dataclass
class Mutant:
    name: str
    answer: str
    reason: str  # the failure reason the verifier must give


@dataclass
class Built:
    prompt: str
    reference: Any  # QuantumCircuit (circuit kinds), source code (code), number (concept)
    answer: str  # the reference written as an answer
    mutants: list[Mutant]
    equivalence: Equivalence | None = None
    constraints: Constraints | None = None
    test: str = ""
    entry: str = ""


def read_task_list(path: Path, loads: Callable[[str], Any], what: str) -> list:
    """A file holding a list of tasks, parsed by ``loads``; a clear error names the file otherwise."""
    try:
        tasks = loads(path.read_text(encoding="utf-8"))
    except Exception as exc:  # OSError, or the parser's own error type
        raise DataError(f"{path}: cannot be read as {what} ({exc})") from exc
    if not isinstance(tasks, list):
        raise DataError(f"{path}: expected a {what} list of tasks")
    if not tasks:
        raise DataError(f"{path}: the list of tasks is empty")
    return tasks
