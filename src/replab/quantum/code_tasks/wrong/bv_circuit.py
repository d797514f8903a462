from qiskit import QuantumCircuit


def bv_circuit(secret):
    n = len(secret)
    qc = QuantumCircuit(n + 1)
    qc.h(range(n))
    return qc
