"""Exact simulation of dynamic circuits (mid-circuit measurement, reset, feed-forward with ``if_test``):
every measurement splits the state into its branches, each carried with its probability and classical
bits, so the final density matrix is exact — no shots."""

from __future__ import annotations

import numpy as np

Branch = tuple[float, "object", dict[int, int]]  # probability, Statevector, classical bit values


def _measure(branches: list, qubit: int, clbit: int | None, reset: bool = False) -> list:
    from qiskit.quantum_info import Operator

    out = []
    for p, state, bits in branches:
        for outcome, projector in ((0, np.diag([1.0, 0.0])), (1, np.diag([0.0, 1.0]))):
            projected = state.evolve(Operator(projector), qargs=[qubit])
            weight = float(np.vdot(projected.data, projected.data).real)
            if weight <= 1e-14:
                continue
            projected = projected / np.sqrt(weight)
            if reset and outcome == 1:
                projected = projected.evolve(Operator(np.array([[0, 1], [1, 0]])), qargs=[qubit])
            new_bits = dict(bits) if clbit is None else {**bits, clbit: outcome}
            out.append((p * weight, projected, new_bits))
    return out


def run_branches(circuit, state) -> list:
    """All branches of ``circuit`` applied to ``state`` (a Statevector over its qubits)."""
    branches = [(1.0, state, {})]
    return _apply(circuit, branches, list(range(circuit.num_qubits)), list(range(circuit.num_clbits)), circuit)


def _apply(block, branches: list, qmap: list[int], cmap: list[int], top) -> list:
    for instruction in block.data:
        op = instruction.operation
        qubits = [qmap[block.find_bit(q).index] for q in instruction.qubits]
        clbits = [cmap[block.find_bit(c).index] for c in instruction.clbits]
        if op.name == "barrier":
            continue
        if op.name == "measure":
            branches = _measure(branches, qubits[0], clbits[0])
        elif op.name == "reset":
            branches = _measure(branches, qubits[0], None, reset=True)
        elif op.name == "if_else":
            branches = _if_else(op, instruction, branches, qubits, clbits, block, top)
        else:
            branches = [(p, s.evolve(op, qargs=qubits), bits) for p, s, bits in branches]
    return branches


def _if_else(op, instruction, branches, qubits, clbits, block, top) -> list:
    true_body, false_body = op.blocks[0], op.blocks[1] if len(op.blocks) > 1 else None
    target, value = op.condition
    # resolve the condition's bits in the outer block's numbering
    if hasattr(target, "size") and not hasattr(target, "_register"):
        indices = [block.find_bit(bit).index for bit in target]
    else:
        indices = [block.find_bit(target).index]
    out = []
    for branch in branches:
        bits = branch[2]
        number = sum(bits.get(i, 0) << k for k, i in enumerate(indices))
        body = true_body if number == int(value) else false_body
        if body is None:
            out.append(branch)
            continue
        out += _apply(body, [branch], qubits, clbits, top)
    return out


def output_density(circuit, input_state, inputs: tuple[int, ...], outputs: tuple[int, ...]):
    """The exact reduced density matrix on ``outputs`` after ``circuit`` runs with ``input_state`` on the
    ``inputs`` qubits (every other qubit starts in |0>)."""
    from qiskit.quantum_info import DensityMatrix, Statevector, partial_trace

    n = circuit.num_qubits
    rest = Statevector.from_label("0" * (n - len(inputs))) if n > len(inputs) else None
    full = input_state if rest is None else rest.tensor(input_state)  # inputs are the low qubits
    if list(inputs) != list(range(len(inputs))):
        raise ValueError("dynamic tasks put their input state on the lowest qubits")
    total = None
    for p, state, _ in run_branches(circuit, full):
        dm = DensityMatrix(state)
        traced = [q for q in range(n) if q not in outputs]
        reduced = partial_trace(dm, traced) if traced else dm
        total = reduced * p if total is None else total + reduced * p
    return total


def input_states(width: int, count: int = 4):
    """|0…0>, |1…1>, |+…+>, and seeded random states: at least 3 distinct inputs."""
    from qiskit.quantum_info import Statevector, random_statevector

    states = [Statevector.from_label("0" * width), Statevector.from_label("1" * width),
              Statevector.from_label("+" * width)]  # fmt: skip
    states += [random_statevector(2**width, seed=11 + k) for k in range(max(0, count - 3))]
    return states


def dynamic_fidelity(candidate, reference, inputs: tuple[int, ...], outputs: tuple[int, ...]) -> float:
    """The smallest state fidelity between the two circuits' output density matrices over the input states."""
    from qiskit.quantum_info import state_fidelity

    worst = 1.0
    for state in input_states(len(inputs)):
        a = output_density(reference, state, inputs, outputs)
        b = output_density(candidate, state, inputs, outputs)
        worst = min(worst, float(state_fidelity(a, b, validate=False)))
    return worst
