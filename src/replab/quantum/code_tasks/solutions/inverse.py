def undo(circuit):
    return circuit.inverse()
