from qiskit.quantum_info import Statevector


def fidelity(a, b):
    return float(abs((Statevector(a).data * Statevector(b).data).sum()))
