"""code-state-fidelity"""

from qiskit.quantum_info import Statevector, state_fidelity

from replab.quantum.circuits import ghz, rotations
from replab.quantum.sandbox import CheckFailed

ENTRY = "fidelity"
SIGNATURE = "fidelity(a: QuantumCircuit, b: QuantumCircuit) -> float"
DESCRIPTION = "return the fidelity |<a|b>|² of the states two measurement-free circuits prepare from |0…0>."


def check(candidate, n: int, seed: int) -> float:
    for a, b in ((rotations(n, seed), ghz(n)), (ghz(n), ghz(n))):
        want, got = state_fidelity(Statevector(a), Statevector(b)), candidate(a, b)
        if abs(got - want) > 1e-6:
            raise CheckFailed("not_equivalent", f"{got} != {want}")
    return 1.0
