from qiskit import QuantumCircuit


def ghz_circuit(n):
    qc = QuantumCircuit(n)
    qc.h(0)
    qc.cx(0, n - 1)
    return qc
