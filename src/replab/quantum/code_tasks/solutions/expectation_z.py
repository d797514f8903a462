from qiskit.quantum_info import SparsePauliOp, Statevector


def expectation_z(circuit, qubit):
    label = ["I"] * circuit.num_qubits
    label[circuit.num_qubits - 1 - qubit] = "Z"
    return float(Statevector(circuit).expectation_value(SparsePauliOp("".join(label))).real)
