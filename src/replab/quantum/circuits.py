"""Reference circuits of the circuit, synthesis and dynamic task families, built with Qiskit 2.x, and the
mutants (wrong variants) derived from them. Qubit 0 is the least significant bit (Qiskit's order)."""

from __future__ import annotations

import math
import random

from qiskit import QuantumCircuit, qasm2, qasm3


def bits(n: int, seed: int, nonzero: bool = True) -> str:
    """A seeded n-bit string (``s[0]`` is qubit 0)."""
    rng = random.Random(seed * 7919 + n)
    while True:
        value = "".join(rng.choice("01") for _ in range(n))
        if not nonzero or "1" in value:
            return value


def bell(n: int, seed: int) -> QuantumCircuit:
    """Bell state number ``seed % 4``: Φ+, Φ−, Ψ+, Ψ−."""
    kind = seed % 4
    qc = QuantumCircuit(2)
    if kind >= 2:
        qc.x(1)
    qc.h(0)
    if kind % 2:
        qc.z(0)
    qc.cx(0, 1)
    return qc


def ghz(n: int, seed: int = 0) -> QuantumCircuit:
    qc = QuantumCircuit(n)
    qc.h(0)
    for i in range(n - 1):
        qc.cx(i, i + 1)
    return qc


def uniform(n: int, seed: int = 0) -> QuantumCircuit:
    qc = QuantumCircuit(n)
    qc.h(range(n))
    return qc


def w_state(n: int, seed: int = 0) -> QuantumCircuit:
    """(|10…0> + |01…0> + … + |0…01>)/√n by a cascade of RY and controlled RY."""
    qc = QuantumCircuit(n)
    qc.x(0)
    for k in range(n - 1):
        theta = 2 * math.acos(math.sqrt(1 / (n - k)))
        qc.cry(theta, k, k + 1)
        qc.cx(k + 1, k)
    return qc


def qft(n: int, seed: int = 0, inverse: bool = False) -> QuantumCircuit:
    """The QFT with its final swaps (Qiskit's QFTGate convention), written in H, CP and SWAP."""
    qc = QuantumCircuit(n)
    for j in reversed(range(n)):
        qc.h(j)
        for k in reversed(range(j)):
            qc.cp(math.pi / 2 ** (j - k), j, k)
    for i in range(n // 2):
        qc.swap(i, n - 1 - i)
    return qc.inverse() if inverse else qc


def inverse_qft(n: int, seed: int = 0) -> QuantumCircuit:
    return qft(n, seed, inverse=True)


def bernstein_vazirani(n: int, seed: int) -> QuantumCircuit:
    """n data qubits and one ancilla (qubit n, prepared in |−>); the data qubits end in |s>."""
    s = bits(n, seed)
    qc = QuantumCircuit(n + 1)
    qc.x(n)
    qc.h(range(n + 1))
    for i, bit in enumerate(s):
        if bit == "1":
            qc.cx(i, n)
    qc.h(range(n))
    return qc


def deutsch_jozsa(n: int, seed: int) -> QuantumCircuit:
    """A balanced f(x) = s·x (mod 2) ⊕ c on n data qubits and an ancilla."""
    qc = bernstein_vazirani(n, seed)
    if seed % 2:
        qc.x(n)
    return qc


def phase_oracle(n: int, seed: int) -> QuantumCircuit:
    """|x> → −|x> for x = w, |x> otherwise (w from the seed)."""
    return phase_oracle_for(bits(n, seed, nonzero=False))


def phase_oracle_for(w: str) -> QuantumCircuit:
    n = len(w)
    qc = QuantumCircuit(n)
    zeros = [i for i, b in enumerate(w) if b == "0"]
    if zeros:
        qc.x(zeros)
    qc.h(n - 1)
    qc.mcx(list(range(n - 1)), n - 1) if n > 1 else qc.x(0)
    qc.h(n - 1)
    if zeros:
        qc.x(zeros)
    return qc


def bitflip_oracle(n: int, seed: int) -> QuantumCircuit:
    """|x>|y> → |x>|y ⊕ [x = w]> with the target on qubit n."""
    w = bits(n, seed, nonzero=False)
    qc = QuantumCircuit(n + 1)
    zeros = [i for i, b in enumerate(w) if b == "0"]
    if zeros:
        qc.x(zeros)
    qc.mcx(list(range(n)), n)
    if zeros:
        qc.x(zeros)
    return qc


def rotations(n: int, seed: int) -> QuantumCircuit:
    """A seeded sequence of Pauli rotations (angles k·π/8) on n qubits, with CX between neighbours."""
    rng = random.Random(seed * 31 + n)
    qc = QuantumCircuit(n)
    for layer in range(3):
        for q in range(n):
            getattr(qc, rng.choice(("rx", "ry", "rz")))(rng.randint(1, 15) * math.pi / 8, q)
        if layer < 2:
            for q in range(n - 1):
                qc.cx(q, q + 1)
    return qc


def increment(n: int, seed: int = 0) -> QuantumCircuit:
    """|x> → |x + 1 mod 2^n>."""
    qc = QuantumCircuit(n)
    for target in reversed(range(n)):
        if target:
            qc.mcx(list(range(target)), target)
        else:
            qc.x(0)
    return qc


def grover_target(seed: int) -> str:
    """The marked 2-qubit state of a Grover task (never 00, which an empty circuit would already hold)."""
    return ("01", "10", "11")[seed % 3]


def grover_2q(n: int, seed: int) -> QuantumCircuit:
    """One Grover iteration on 2 qubits finds the marked state exactly."""
    qc = uniform(2)
    qc.compose(phase_oracle_for(grover_target(seed)), inplace=True)
    qc.h([0, 1])
    qc.x([0, 1])
    qc.cz(0, 1)
    qc.x([0, 1])
    qc.h([0, 1])
    return qc


def toffoli(n: int = 3, seed: int = 0) -> QuantumCircuit:
    qc = QuantumCircuit(3)
    qc.ccx(0, 1, 2)
    return qc


def toffoli_clifford_t(n: int = 3, seed: int = 0) -> QuantumCircuit:
    """The standard 7-T decomposition (Nielsen & Chuang fig. 4.9)."""
    qc = QuantumCircuit(3)
    qc.h(2)
    qc.cx(1, 2)
    qc.tdg(2)
    qc.cx(0, 2)
    qc.t(2)
    qc.cx(1, 2)
    qc.tdg(2)
    qc.cx(0, 2)
    qc.t(1)
    qc.t(2)
    qc.h(2)
    qc.cx(0, 1)
    qc.t(0)
    qc.tdg(1)
    qc.cx(0, 1)
    return qc


def swap_from_cx(n: int = 2, seed: int = 0) -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.cx(0, 1)
    qc.cx(1, 0)
    qc.cx(0, 1)
    return qc


def cz_from_h_cx(n: int = 2, seed: int = 0) -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(1)
    qc.cx(0, 1)
    qc.h(1)
    return qc


def ghz_linear_depth(n: int, seed: int = 0) -> QuantumCircuit:
    return ghz(n)


def _apply_if(qc: QuantumCircuit, clbit: int, gate: str, qubit: int) -> None:
    """Feed-forward: apply ``gate`` to ``qubit`` when classical bit ``clbit`` reads 1."""
    with qc.if_test((qc.clbits[clbit], 1)):
        getattr(qc, gate)(qubit)


# ---- dynamic circuits ---------------------------------------------------------------------------------
def teleport(n: int = 3, seed: int = 0, corrections: bool = True) -> QuantumCircuit:
    """Qubit 0's state moves to qubit 2 by a Bell pair, two mid-circuit measurements and feed-forward."""
    qc = QuantumCircuit(3, 2)
    qc.h(1)
    qc.cx(1, 2)
    qc.cx(0, 1)
    qc.h(0)
    qc.measure(0, 0)
    qc.measure(1, 1)
    if corrections:
        _apply_if(qc, 1, "x", 2)
        _apply_if(qc, 0, "z", 2)
    return qc


def _measure_then_flip(width: int, target: int, corrections: bool) -> QuantumCircuit:
    """Measure qubit 0 into bit 0, then X on ``target`` when the bit is 1 (left out without ``corrections``)."""
    qc = QuantumCircuit(width, 1)
    qc.measure(0, 0)
    if corrections:
        _apply_if(qc, 0, "x", target)
    return qc


def active_reset(n: int = 1, seed: int = 0, corrections: bool = True) -> QuantumCircuit:
    """Measure, then flip on 1: the qubit ends in |0> whatever it held."""
    return _measure_then_flip(1, 0, corrections)


def measured_copy(n: int = 2, seed: int = 0, corrections: bool = True) -> QuantumCircuit:
    """Measure qubit 0 and copy the outcome into qubit 1 by a classically controlled X."""
    return _measure_then_flip(2, 1, corrections)


def repetition_correct(n: int = 5, seed: int = 0, corrections: bool = True) -> QuantumCircuit:
    """A 3-qubit bit-flip code (data 0–2, syndrome ancillas 3–4) with an error on data qubit ``seed % 3``,
    measured syndromes and feed-forward correction; the data qubits end in the encoded α|000> + β|111>."""
    qc = QuantumCircuit(5, 2)
    qc.cx(0, 1)
    qc.cx(0, 2)
    qc.x(seed % 3)  # the error
    qc.cx(0, 3)
    qc.cx(1, 3)
    qc.cx(1, 4)
    qc.cx(2, 4)
    qc.measure(3, 0)
    qc.measure(4, 1)
    if corrections:
        for syndrome, qubit in ((1, 0), (3, 1), (2, 2)):  # c = c0 + 2·c1
            with qc.if_test((qc.cregs[0], syndrome)):
                qc.x(qubit)
    return qc


# ---- answers and mutants --------------------------------------------------------------------------------
def as_qasm(circuit: QuantumCircuit, version: int = 2) -> str:
    return qasm3.dumps(circuit) if version == 3 else qasm2.dumps(circuit)


def do_nothing(circuit: QuantumCircuit) -> QuantumCircuit:
    return QuantumCircuit(*circuit.qregs, *circuit.cregs)


def wider(circuit: QuantumCircuit) -> QuantumCircuit:
    out = QuantumCircuit(circuit.num_qubits + 1, circuit.num_clbits)
    out.compose(circuit, range(circuit.num_qubits), range(circuit.num_clbits), inplace=True)
    return out


def drop_last_gate(circuit: QuantumCircuit) -> QuantumCircuit:
    out = circuit.copy_empty_like()
    last = max(k for k, i in enumerate(circuit.data) if i.operation.name not in ("measure", "barrier"))
    for k, inst in enumerate(circuit.data):
        if k != last:
            out.append(inst)
    return out


def extra_phase(circuit: QuantumCircuit, qubit: int = 0, gate: str = "s") -> QuantumCircuit:
    out = circuit.copy()
    getattr(out, gate)(qubit)
    return out


def swapped_ends(circuit: QuantumCircuit) -> QuantumCircuit:
    out = circuit.copy()
    out.swap(0, circuit.num_qubits - 1)
    return out
