from qiskit import QuantumCircuit


def bv_circuit(secret):
    n = len(secret)
    qc = QuantumCircuit(n + 1)
    qc.x(n)
    qc.h(range(n + 1))
    for i, b in enumerate(secret):
        if b == "1":
            qc.cx(i, n)
    qc.h(range(n))
    return qc
