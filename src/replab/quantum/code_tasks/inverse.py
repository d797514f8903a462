"""code-inverse"""

from replab.quantum.circuits import rotations
from replab.quantum.code_tasks._compare import same

ENTRY = "undo"
SIGNATURE = "undo(circuit: QuantumCircuit) -> QuantumCircuit"
DESCRIPTION = "return a circuit that undoes the given measurement-free circuit exactly."


def check(candidate, n: int, seed: int) -> float:
    circuit = rotations(n, seed)
    return same(candidate(circuit), circuit.inverse(), target="unitary")
