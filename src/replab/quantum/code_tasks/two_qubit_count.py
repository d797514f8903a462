"""code-two-qubit-count"""

from replab.quantum.circuits import qft
from replab.quantum.sandbox import CheckFailed
from replab.quantum.verify import resources

SIGNATURE = "two_qubit_count(circuit: QuantumCircuit) -> int"
DESCRIPTION = ("return the number of two-qubit gates in the circuit after transpiling it to the basis "
               "['cx', 'rz', 'sx', 'x'] with optimization_level=0.")  # fmt: skip


def check(candidate, n: int, seed: int) -> float:
    circuit = qft(n)
    want, got = resources(circuit)["two_qubit"], candidate(circuit)
    if got != want:
        raise CheckFailed("not_equivalent", f"{got} != {want}")
    return 1.0
