def two_qubit_count(circuit):
    return sum(1 for inst in circuit.data if len(inst.qubits) == 2)
