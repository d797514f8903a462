"""code-ghz-circuit"""

from replab.quantum.circuits import ghz
from replab.quantum.code_tasks._compare import same

SIGNATURE = "ghz_circuit(n: int) -> QuantumCircuit"
DESCRIPTION = "return an n-qubit circuit (no measurements) preparing the GHZ state; it is called with n = {n}."


def check(candidate, n: int, seed: int) -> float:
    return min(same(candidate(k), ghz(k)) for k in (2, n))
