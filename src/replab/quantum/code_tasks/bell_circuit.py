"""code-bell-circuit"""

from qiskit import QuantumCircuit

from replab.quantum.code_tasks._compare import same

SIGNATURE = "bell_circuit() -> QuantumCircuit"
DESCRIPTION = "return a 2-qubit circuit (no measurements) preparing (|00> + |11>)/√2."


def check(candidate, n: int, seed: int) -> float:
    reference = QuantumCircuit(2)
    reference.h(0)
    reference.cx(0, 1)
    return same(candidate(), reference)
