"""code-probabilities"""

from qiskit.quantum_info import Statevector

from replab.quantum.circuits import rotations
from replab.quantum.sandbox import CheckFailed

SIGNATURE = "probabilities(circuit: QuantumCircuit) -> dict[str, float]"
DESCRIPTION = ("return the exact measurement probabilities of a measurement-free circuit as a dict from "
               "bitstring (Qiskit order, q[n-1]…q[0]) to probability, omitting zero entries.")  # fmt: skip


def check(candidate, n: int, seed: int) -> float:
    circuit = rotations(n, seed)
    want = Statevector(circuit).probabilities_dict()
    got = candidate(circuit)
    tvd = 0.5 * sum(abs(got.get(k, 0) - want.get(k, 0)) for k in set(got) | set(want))
    if tvd > 1e-6:
        raise CheckFailed("not_equivalent", f"total-variation distance {tvd:.4f}", 1 - tvd)
    return 1 - tvd
