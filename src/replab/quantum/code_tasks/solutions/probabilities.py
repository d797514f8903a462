from qiskit.quantum_info import Statevector


def probabilities(circuit):
    return {k: v for k, v in Statevector(circuit).probabilities_dict().items() if v > 1e-12}
