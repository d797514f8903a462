from qiskit import QuantumCircuit
from qiskit.circuit.library import QFTGate


def qft_circuit(n):
    qc = QuantumCircuit(n)
    qc.append(QFTGate(n), range(n))
    return qc
