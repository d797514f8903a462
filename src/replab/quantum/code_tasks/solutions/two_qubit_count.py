from qiskit import transpile


def two_qubit_count(circuit):
    flat = transpile(circuit, basis_gates=["cx", "rz", "sx", "x"], optimization_level=0)
    return sum(1 for inst in flat.data if len(inst.qubits) == 2)
