from qiskit.quantum_info import Statevector, state_fidelity


def fidelity(a, b):
    return float(state_fidelity(Statevector(a), Statevector(b)))
