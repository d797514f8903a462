from qiskit import QuantumCircuit


def bell_circuit():
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.h(1)
    return qc
