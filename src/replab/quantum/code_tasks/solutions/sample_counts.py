from qiskit.primitives import StatevectorSampler


def sample_counts(circuit, shots):
    qc = circuit.measure_all(inplace=False)
    result = StatevectorSampler().run([qc], shots=shots).result()
    return result[0].data.meas.get_counts()
