"""What a quantum task instance is made of: its prompt, its reference, and the mutants its verifier must
reject."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from replab.judge.tasks.quantum.verify import Constraints, Equivalence

KINDS = ("circuit", "dynamic", "synthesis", "code", "concept")


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
