"""``replab quantum run --task quantum | qiskit-humaneval``: a suite by name, its settings checked against the
suite's config (a setting the suite does not take is an error that names it)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from replab.errors import ConfigError
from replab.harness.backends import RetryPolicy

FLAGS = {"tasks": "--tasks", "data": "--data", "variant": "--variant", "repair": "--repair", "panel": "--panel"}


def run_suite(task: str, settings: dict[str, Any], out: str | Path, retry: RetryPolicy | None = None) -> str:
    """Run suite ``task`` with ``settings`` (the rest: its config's defaults) into ``out``; the report's text."""
    if task == "qiskit-humaneval":
        from replab.quantum.humaneval_run import HumanEvalRunConfig as Config
        from replab.quantum.humaneval_run import report
        from replab.quantum.humaneval_run import run_humaneval as run
    elif task == "quantum":
        from replab.quantum.run import QuantumRunConfig as Config
        from replab.quantum.run import report
        from replab.quantum.run import run_quantum as run
    else:
        raise ConfigError(f"--task {task}: unknown suite; valid: quantum, qiskit-humaneval")
    fields = {f.name for f in dataclasses.fields(Config)}
    foreign = [FLAGS.get(key, key) for key in settings if key not in fields]
    if foreign:
        raise ConfigError(f"--task {task} does not take {', '.join(foreign)}")
    return report(run(Config(**settings), out, retry))
