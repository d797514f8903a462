"""code-sample-counts"""

from qiskit.quantum_info import Statevector

from replab.quantum.circuits import rotations
from replab.quantum.sandbox import CheckFailed
from replab.quantum.verify import counts_match

SIGNATURE = "sample_counts(circuit: QuantumCircuit, shots: int) -> dict"
DESCRIPTION = ("sample a measurement-free circuit `shots` times with qiskit's StatevectorSampler (measure_all "
               "first) and return the counts dict.")  # fmt: skip


def check(candidate, n: int, seed: int) -> float:
    circuit = rotations(n, seed)
    ok, p = counts_match(candidate(circuit, 4000), Statevector(circuit).probabilities_dict())  # false reject 1e-4
    if not ok:
        raise CheckFailed("not_equivalent", f"multinomial test p = {p:.2e}", p)
    return p
