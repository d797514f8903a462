from qiskit.quantum_info import Statevector


def probabilities(circuit):
    return {k[::-1]: v for k, v in Statevector(circuit).probabilities_dict().items()}
