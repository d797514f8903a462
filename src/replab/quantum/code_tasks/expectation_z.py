"""code-expectation-z"""

from qiskit.quantum_info import SparsePauliOp, Statevector

from replab.quantum.circuits import rotations
from replab.quantum.sandbox import CheckFailed

SIGNATURE = "expectation_z(circuit: QuantumCircuit, qubit: int) -> float"
DESCRIPTION = "return the exact expectation value <Z> of qubit `qubit` after a measurement-free circuit, from |0…0>."


def check(candidate, n: int, seed: int) -> float:
    circuit = rotations(n, seed)
    state = Statevector(circuit)
    for qubit in range(circuit.num_qubits):
        label = ["I"] * circuit.num_qubits
        label[circuit.num_qubits - 1 - qubit] = "Z"
        want = state.expectation_value(SparsePauliOp("".join(label))).real
        got = candidate(circuit, qubit)
        if abs(got - want) > 1e-6:
            raise CheckFailed("not_equivalent", f"qubit {qubit}: {got} != {want}")
    return 1.0
