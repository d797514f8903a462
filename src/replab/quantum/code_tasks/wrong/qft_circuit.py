from qiskit import QuantumCircuit


def qft_circuit(n):
    qc = QuantumCircuit(n)
    qc.h(range(n))
    return qc
