"""code-qft-circuit"""

from replab.quantum.circuits import qft
from replab.quantum.code_tasks._compare import same

SIGNATURE = "qft_circuit(n: int) -> QuantumCircuit"
DESCRIPTION = ("return the n-qubit quantum Fourier transform with its final swaps (equal to Qiskit's QFTGate up "
               "to a global phase); it is called with n = {n}.")  # fmt: skip


def check(candidate, n: int, seed: int) -> float:
    return same(candidate(n), qft(n), target="unitary")
