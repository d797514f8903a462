def undo(circuit):
    return circuit.reverse_ops()
