"""The comparison every circuit-returning code task's check uses (inside the sandbox)."""

from __future__ import annotations

from qiskit import QuantumCircuit

from replab.quantum.sandbox import CheckFailed
from replab.quantum.verify import Equivalence, compare


def same(circuit: object, reference: QuantumCircuit, target: str = "state") -> float:
    """The agreement of ``circuit`` with ``reference``; CheckFailed (wrong_width, not_equivalent) otherwise."""
    if not isinstance(circuit, QuantumCircuit):
        raise CheckFailed("not_equivalent", f"returned a {type(circuit).__name__}, not a QuantumCircuit")
    if circuit.num_qubits != reference.num_qubits:
        raise CheckFailed("wrong_width", f"{circuit.num_qubits} qubits, expected {reference.num_qubits}")
    ok, value = compare(circuit, reference, Equivalence(target=target))
    if not ok:
        raise CheckFailed("not_equivalent", f"agreement {value:.6f}", value)
    return value
