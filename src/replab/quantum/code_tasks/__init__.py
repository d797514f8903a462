"""Code tasks: a Python function using Qiskit, checked in the sandbox by a hidden test that runs it and
compares by execution (never by exact seeded counts, never by overwriting the candidate's output).

One task is three real files, named after the task (``code-<name>`` in tasks.yaml, ``_`` for ``-``):

- ``<name>.py``: ``SIGNATURE``, ``DESCRIPTION`` (``{n}`` and ``{seed}`` are filled per instance), ``ENTRY``
  when the function is not called ``<name>``, and ``check(candidate, n, seed)``, the hidden test: it raises
  ``CheckFailed(reason, detail)`` (or AssertionError) and returns the agreement it measured;
- ``solutions/<name>.py``: the reference, given to the verifier as an answer;
- ``wrong/<name>.py``: a plausible wrong solution, which the verifier must reject as ``not_equivalent``.

Syntax-error, API-drift and denied-import mutants are derived from the reference for every task."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from importlib.resources import files

from replab.quantum.schema import Built, Mutant

CODE_RULES = "Reply with the complete Python function (imports included) in one ```python block."
_HIDDEN_TEST = (
    "from {module} import check as _check\n\n\ndef check(candidate):\n    return _check(candidate, {n}, {seed})\n"
)


@dataclass
class CodeTask:
    module: str  # the task's module, e.g. replab.quantum.code_tasks.bell_circuit
    description: str
    entry: str
    signature: str
    reference: str
    wrong: str

    def build(self, n: int, seed: int) -> Built:
        prompt = f"Write `{self.signature}`: {self.description.format(n=n, seed=seed)} {CODE_RULES}"
        mutants = [
            Mutant("wrong_logic", self.wrong, "not_equivalent"),
            Mutant("syntax_error", self.reference.replace("def ", "def (", 1), "syntax"),
            Mutant("api_drift", "from qiskit import execute\n" + self.reference, "api_drift"),
            Mutant("import_denied", "import subprocess\n" + self.reference, "import_denied"),
        ]
        test = _HIDDEN_TEST.format(module=self.module, n=n, seed=seed)
        return Built(prompt, self.reference, self.reference, mutants, test=test, entry=self.entry)


def _load() -> dict[str, CodeTask]:
    tasks, here = {}, files(__name__)
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        tasks["code-" + info.name.replace("_", "-")] = CodeTask(
            module.__name__, module.DESCRIPTION, getattr(module, "ENTRY", info.name), module.SIGNATURE,
            (here / "solutions" / f"{info.name}.py").read_text(encoding="utf-8"),
            (here / "wrong" / f"{info.name}.py").read_text(encoding="utf-8"),
        )  # fmt: skip
    return tasks


CODE_TASKS: dict[str, CodeTask] = _load()
