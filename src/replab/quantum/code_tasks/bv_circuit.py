"""code-bv-circuit"""

from replab.quantum.circuits import bernstein_vazirani, bits
from replab.quantum.code_tasks._compare import same

SIGNATURE = "bv_circuit(secret: str) -> QuantumCircuit"
DESCRIPTION = ("return the Bernstein–Vazirani circuit (no measurements) for the secret bit string `secret` "
               "(secret[i] is qubit i) on len(secret) data qubits plus one ancilla last; the data qubits must end "
               "in |secret>.")  # fmt: skip


def check(candidate, n: int, seed: int) -> float:
    return same(candidate(bits(n, seed)), bernstein_vazirani(n, seed))
