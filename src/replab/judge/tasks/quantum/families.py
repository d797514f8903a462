"""The task families: each a builder of (prompt, reference, equivalence, constraints, mutants) for a given
size ``n`` and ``seed``. A task file (assets/quantum/tasks.yaml) names a family and the sizes and seeds
to instantiate; every expected value is computed per instance, never written by hand."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from replab.judge.tasks.quantum import circuits as C
from replab.judge.tasks.quantum.code_tasks import CODE_TASKS
from replab.judge.tasks.quantum.schema import Built, Mutant
from replab.judge.tasks.quantum.verify import Constraints, Equivalence

QASM2_RULES = (
    'Reply with an OpenQASM 2.0 program (include "qelib1.inc"; one register qreg q[{width}]) in a ```qasm '
    "block. Qubit q[0] is the least significant bit (Qiskit's convention)."
)
QASM3_RULES = (
    'Reply with an OpenQASM 3.0 program (include "stdgates.inc"; qubit[{width}] q; bit registers as needed; '
    "feed-forward as `if (c[0]) x q[2];`) in a ```qasm block. Qubit q[0] is the least significant bit."
)
CONCEPT_RULES = "Explain briefly, then give the number alone on a last line of the form `ANSWER: <number>`."


@dataclass
class Family:
    kind: str
    build: Callable[[int, int], Built]
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)


def circuit_family(describe: Callable[[int, int], str], make: Callable[[int, int], Any], spec: Equivalence,
                    mutants: tuple[str, ...], version: int = 2,
                    constraints: Callable[[int], Constraints] | None = None,
                    ) -> Callable[[int, int], Built]:  # fmt: skip
    """A builder for tasks whose answer is a circuit: the prompt, the reference, and the named mutants."""

    def build(n: int, seed: int) -> Built:
        reference = make(n, seed)
        width = reference.num_qubits
        rules = (QASM3_RULES if version == 3 else QASM2_RULES).format(width=width)
        limit = constraints(n) if constraints else None
        extra = ""
        if limit is not None:
            extra = f" Use only the gates {', '.join(limit.gates)}" + (
                f" and a depth of at most {limit.max_depth}." if limit.max_depth else ".")  # fmt: skip
        made = []
        for name in mutants:
            circuit, reason = MUTATIONS[name](reference, n, seed)
            made.append(Mutant(name, C.as_qasm(circuit, version), reason))
        return Built(f"{describe(n, seed)}{extra} {rules}", reference, C.as_qasm(reference, version), made,
                     spec, limit)  # fmt: skip

    return build


MUTATIONS: dict[str, Callable[[Any, int, int], tuple[Any, str]]] = {
    "do_nothing": lambda ref, n, seed: (C.do_nothing(ref), "not_equivalent"),
    "wrong_width": lambda ref, n, seed: (C.wider(ref), "wrong_width"),
    "missing_gate": lambda ref, n, seed: (C.drop_last_gate(ref), "not_equivalent"),
    "wrong_phase": lambda ref, n, seed: (C.extra_phase(ref, 0, "s"), "not_equivalent"),
    "sign_flip": lambda ref, n, seed: (C.extra_phase(ref, 0, "z"), "not_equivalent"),
    "swapped_qubits": lambda ref, n, seed: (C.swapped_ends(ref), "permutation_only"),
    "bit_flip": lambda ref, n, seed: (C.extra_phase(ref, 0, "x"), "not_equivalent"),
    "identity_is_a_permutation": lambda ref, n, seed: (C.do_nothing(ref), "permutation_only"),
    "no_corrections": lambda ref, n, seed: (MAKERS_WITHOUT_CORRECTIONS[ref.name](n, seed), "not_equivalent"),
    "library_gate": lambda ref, n, seed: (C.toffoli(), "constraint_violated"),
    "library_swap": lambda ref, n, seed: (_one_gate(ref, "swap"), "constraint_violated"),
    "library_cz": lambda ref, n, seed: (_one_gate(ref, "cz"), "constraint_violated"),
    "too_deep": lambda ref, n, seed: (_padded(ref, 4), "constraint_violated"),
}


def _one_gate(reference, name: str):
    out = C.do_nothing(reference)
    getattr(out, name)(0, 1)
    return out


def _padded(reference, layers: int):
    """The reference with identity-equivalent H·H pairs added: correct, but deeper than allowed."""
    out = reference.copy()
    for _ in range(layers):
        out.h(0)
        out.h(0)
    return out


def _named(make: Callable, name: str) -> Callable:
    def inner(n: int, seed: int):
        circuit = make(n, seed)
        circuit.name = name
        return circuit

    return inner


def _dynamic(prompt: str, make: Callable, name: str, outputs: tuple[int, ...]) -> Family:
    """A dynamic-circuit family (OpenQASM 3): the input state on q[0], ``outputs`` compared exactly; its
    mutants include the circuit without its feed-forward corrections. ``{error}`` in the prompt is the
    seeded error qubit (seed % 3)."""
    return Family("dynamic", circuit_family(
        lambda n, s: prompt.format(error=s % 3), _named(make, name),
        Equivalence(target="dynamic", inputs=(0,), outputs=outputs),
        ("do_nothing", "wrong_width", "no_corrections"), version=3,
    ))  # fmt: skip


MAKERS_WITHOUT_CORRECTIONS = {
    "teleport": lambda n, s: C.teleport(n, s, corrections=False),
    "active_reset": lambda n, s: C.active_reset(n, s, corrections=False),
    "measured_copy": lambda n, s: C.measured_copy(n, s, corrections=False),
    "repetition": lambda n, s: C.repetition_correct(n, s, corrections=False),
}

STATE = Equivalence(target="state")
UNITARY = Equivalence(target="unitary")
EXACT_UNITARY = Equivalence(target="unitary", phase="exact")
BASIC = ("do_nothing", "wrong_width", "missing_gate")


def _concept(question: Callable[[int, int], str], value: Callable[[int, int], float]) -> Callable[[int, int], Built]:
    def build(n: int, seed: int) -> Built:
        expected = float(value(n, seed))
        text = f"ANSWER: {_number(expected)}"
        mutants = [Mutant("off_by_one", f"ANSWER: {_number(expected + 1)}", "not_equivalent"),
                   Mutant("doubled", f"ANSWER: {_number(2 * expected + 3)}", "not_equivalent"),
                   Mutant("no_answer_line", f"The answer is {_number(expected)}.", "syntax")]  # fmt: skip
        return Built(f"{question(n, seed)} {CONCEPT_RULES}", expected, text, mutants)

    return build


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:.12g}"


def _qft_gate_count(n: int, seed: int = 0) -> int:
    return n + n * (n - 1) // 2 + n // 2  # H on every qubit, one CP per pair, ⌊n/2⌋ SWAPs


FAMILIES: dict[str, Family] = {
    # ---- circuits: a stated unitary or state -------------------------------------------------------------
    "bell-state": Family(
        "circuit",
        circuit_family(
            lambda n, s: (
                f"Prepare the Bell state {('Φ+', 'Φ−', 'Ψ+', 'Ψ−')[s % 4]} = "
                f"{('(|00>+|11>)', '(|00>−|11>)', '(|01>+|10>)', '(|01>−|10>)')[s % 4]}/√2 from |00>."
            ),
            C.bell,
            STATE,
            BASIC,
        ),
    ),  # fmt: skip
    "ghz-state": Family(
        "circuit",
        circuit_family(
            lambda n, s: f"Prepare the {n}-qubit GHZ state (|0…0> + |1…1>)/√2 from |0…0>.",
            C.ghz,
            STATE,
            ("do_nothing", "wrong_width", "missing_gate", "sign_flip"),
        ),
    ),
    "uniform-superposition": Family(
        "circuit",
        circuit_family(
            lambda n, s: f"Prepare the uniform superposition of all {2**n} basis states of {n} qubits from |0…0>.",
            C.uniform,
            STATE,
            BASIC + ("sign_flip",),
        ),
    ),
    "w-state": Family(
        "circuit",
        circuit_family(
            lambda n, s: f"Prepare the {n}-qubit W state (|10…0> + |01…0> + … + |0…01>)/√{n} from |0…0>.",
            C.w_state,
            STATE,
            ("do_nothing", "wrong_width", "sign_flip"),
        ),
    ),
    "qft": Family(
        "circuit",
        circuit_family(
            lambda n, s: (
                f"Implement the quantum Fourier transform on {n} qubits, |x> → (1/√{2**n}) Σ_y "
                f"e^(2πi·xy/{2**n}) |y>, including the final qubit-order swaps (Qiskit's QFTGate)."
            ),
            C.qft,
            UNITARY,
            ("do_nothing", "wrong_width", "wrong_phase", "swapped_qubits"),
        ),
    ),
    "inverse-qft": Family(
        "circuit",
        circuit_family(
            lambda n, s: (
                f"Implement the inverse quantum Fourier transform on {n} qubits (the inverse of Qiskit's "
                "QFTGate, final swaps included)."
            ),
            C.inverse_qft,
            UNITARY,
            BASIC + ("swapped_qubits",),
        ),
    ),
    "bernstein-vazirani": Family(
        "circuit",
        circuit_family(
            lambda n, s: (
                f"Write the whole Bernstein–Vazirani circuit for the hidden string s = {C.bits(n, s)[::-1]} "
                f"(written q[{n - 1}]…q[0]) on {n} data qubits q[0..{n - 1}] and an ancilla q[{n}]: the "
                "oracle |x>|y> → |x>|y ⊕ s·x> included, no measurements; the data qubits must end in |s>."
            ),
            C.bernstein_vazirani,
            STATE,
            BASIC,
        ),
    ),
    "deutsch-jozsa": Family(
        "circuit",
        circuit_family(
            lambda n, s: (
                f"Write the Deutsch–Jozsa circuit, no measurements, for f(x) = s·x ⊕ {s % 2} with "
                f"s = {C.bits(n, s)[::-1]} (q[{n - 1}]…q[0]) on data q[0..{n - 1}] and ancilla q[{n}]."
            ),
            C.deutsch_jozsa,
            STATE,
            ("do_nothing", "wrong_width", "bit_flip"),
        ),
    ),
    "phase-oracle": Family(
        "circuit",
        circuit_family(
            lambda n, s: (
                f"Implement the Grover phase oracle on {n} qubits that maps |w> → −|w> for "
                f"w = {C.bits(n, s, nonzero=False)[::-1]} (q[{n - 1}]…q[0]) and leaves every other basis "
                "state unchanged (a global phase is allowed)."
            ),
            C.phase_oracle,
            UNITARY,
            BASIC + ("wrong_phase",),
        ),
    ),
    "bitflip-oracle": Family(
        "circuit",
        circuit_family(
            lambda n, s: (
                f"Implement the bit-flip oracle |x>|y> → |x>|y ⊕ [x = w]> with x on q[0..{n - 1}], the "
                f"target y on q[{n}] and w = {C.bits(n, s, nonzero=False)[::-1]} (q[{n - 1}]…q[0]), "
                "exactly (global phase included)."
            ),
            C.bitflip_oracle,
            EXACT_UNITARY,
            BASIC + ("wrong_phase",),
        ),
    ),
    "pauli-rotations": Family(
        "circuit",
        circuit_family(
            lambda n, s: (
                f"Implement exactly this sequence on {n} qubits (up to a global phase): "
                f"{_gate_list(C.rotations(n, s))}."
            ),
            C.rotations,
            UNITARY,
            BASIC + ("wrong_phase",),
        ),
    ),
    "increment": Family(
        "circuit",
        circuit_family(
            lambda n, s: f"Implement the {n}-qubit increment |x> → |x + 1 mod {2**n}> exactly.",
            C.increment,
            EXACT_UNITARY,
            BASIC + ("swapped_qubits",),
        ),
    ),
    "grover-2q": Family(
        "circuit",
        circuit_family(
            lambda n, s: (
                "Write one full Grover iteration on 2 qubits (uniform superposition, phase oracle for "
                f"w = {C.grover_target(s)[::-1]} (q[1]q[0]), diffusion) that ends in |w>; "
                "no measurements."
            ),
            C.grover_2q,
            STATE,
            BASIC,
        ),
    ),  # fmt: skip
    # ---- constrained synthesis (QCoder-style) ------------------------------------------------------------
    "toffoli-clifford-t": Family(
        "synthesis",
        circuit_family(
            lambda n, s: "Implement the Toffoli gate (controls q[0], q[1]; target q[2]) exactly up to a global phase.",
            C.toffoli_clifford_t,
            UNITARY,
            ("do_nothing", "wrong_width", "library_gate", "missing_gate"),
            constraints=lambda n: Constraints(("h", "t", "tdg", "cx", "s", "sdg")),
        ),
    ),
    "swap-from-cx": Family(
        "synthesis",
        circuit_family(
            lambda n, s: "Implement SWAP on two qubits exactly.",
            C.swap_from_cx,
            EXACT_UNITARY,
            ("identity_is_a_permutation", "wrong_width", "library_swap", "missing_gate"),
            constraints=lambda n: Constraints(("cx",), max_depth=3),
        ),
    ),
    "cz-from-h-cx": Family(
        "synthesis",
        circuit_family(
            lambda n, s: "Implement CZ on two qubits exactly.",
            C.cz_from_h_cx,
            EXACT_UNITARY,
            ("do_nothing", "wrong_width", "library_cz", "missing_gate"),
            constraints=lambda n: Constraints(("h", "cx"), max_depth=3),
        ),
    ),
    "ghz-linear-depth": Family(
        "synthesis",
        circuit_family(
            lambda n, s: f"Prepare the {n}-qubit GHZ state from |0…0>.",
            C.ghz_linear_depth,
            STATE,
            ("do_nothing", "wrong_width", "too_deep"),
            constraints=lambda n: Constraints(("h", "cx"), max_depth=n),
        ),
    ),
    # ---- dynamic circuits: mid-circuit measurement and feed-forward --------------------------------------
    "teleportation": _dynamic(
        "Teleport the unknown state of q[0] to q[2] using q[1], two mid-circuit measurements into bits c[0], "
        "c[1] and classically controlled corrections.",
        C.teleport,
        "teleport",
        outputs=(2,),
    ),
    "active-reset": _dynamic(
        "Reset q[0] to |0> using only a measurement into c[0] and a classically controlled gate.",
        C.active_reset,
        "active_reset",
        outputs=(0,),
    ),
    "measured-copy": _dynamic(
        "Measure q[0] into c[0] and copy the outcome into q[1] (initially |0>) with a classically controlled gate.",
        C.measured_copy,
        "measured_copy",
        outputs=(0, 1),
    ),
    "repetition-code": _dynamic(
        "Encode q[0] in the 3-qubit bit-flip code on q[0..2], apply an X error on q[{error}], measure the two "
        "parity syndromes with ancillas q[3], q[4] into c[0], c[1] and correct by feed-forward: q[0..2] must "
        "end in the encoded state α|000> + β|111>.",
        C.repetition_correct,
        "repetition",
        outputs=(0, 1, 2),
    ),
    # ---- concept: a number on an ANSWER line -------------------------------------------------------------
    "qft-gate-count": Family(
        "concept",
        _concept(
            lambda n, s: (
                f"How many gates does the textbook QFT on {n} qubits use when written with one H per qubit, "
                "one controlled-phase per pair of qubits and the final swaps (one SWAP per swapped pair)?"
            ),
            _qft_gate_count,
        ),
    ),  # fmt: skip
    "grover-iterations": Family(
        "concept",
        _concept(
            lambda n, s: (
                f"How many Grover iterations ⌊π/4·√(N/M)⌋ are optimal for N = {2**n} items with M = {1 + s % 3} marked?"
            ),
            lambda n, s: math.floor(math.pi / 4 * math.sqrt(2**n / (1 + s % 3))),
        ),
    ),
    "toffoli-t-count": Family(
        "concept",
        _concept(
            lambda n, s: "What is the T-count (T and T† gates) of the standard ancilla-free Clifford+T Toffoli?",
            lambda n, s: 7,
        ),
    ),
    "hilbert-dimension": Family(
        "concept", _concept(lambda n, s: f"What is the dimension of the state space of {n} qubits?", lambda n, s: 2**n)
    ),
    "swap-cnot-count": Family(
        "concept",
        _concept(
            lambda n, s: f"How many CNOTs does it take to swap two qubits, {n} times in a row (no cancellation)?",
            lambda n, s: 3 * n,
        ),
    ),
    "ghz-all-zero-probability": Family(
        "concept",
        _concept(
            lambda n, s: (
                f"Measuring the {n}-qubit GHZ state in the computational basis, what is the probability "
                "of the all-zeros outcome?"
            ),
            lambda n, s: 0.5,
        ),
    ),
    "ry-one-probability": Family(
        "concept",
        _concept(
            lambda n, s: f"A qubit in |0> goes through RY({s % 7 + 1}π/8). What is the probability of measuring 1?",
            lambda n, s: math.sin((s % 7 + 1) * math.pi / 16) ** 2,
        ),
    ),
    "rx-z-expectation": Family(
        "concept",
        _concept(
            lambda n, s: f"A qubit in |0> goes through RX({s % 7 + 1}π/8). What is the expectation value of Z?",
            lambda n, s: math.cos((s % 7 + 1) * math.pi / 8),
        ),
    ),
    "ghz-chain-depth": Family(
        "concept",
        _concept(
            lambda n, s: (
                f"What is the depth of the chain GHZ circuit on {n} qubits (H on q[0], then CX(q[i], "
                "q[i+1]) for i = 0…n−2)?"
            ),
            lambda n, s: n,
        ),
    ),
    "dj-classical-queries": Family(
        "concept",
        _concept(
            lambda n, s: (
                f"Deterministically, how many classical queries decide in the worst case whether an "
                f"{n}-bit function promised constant or balanced is which?"
            ),
            lambda n, s: 2 ** (n - 1) + 1,
        ),
    ),
    "uniform-amplitude": Family(
        "concept",
        _concept(
            lambda n, s: f"After H on each of {n} qubits in |0…0>, what is the amplitude of |1…1>?",
            lambda n, s: 1 / math.sqrt(2**n),
        ),
    ),
    "bv-classical-queries": Family(
        "concept",
        _concept(
            lambda n, s: f"How many classical queries to f(x) = s·x (mod 2) determine an {n}-bit secret s?",
            lambda n, s: n,
        ),
    ),
    **{name: Family("code", task.build, task.description) for name, task in CODE_TASKS.items()},
}


def _gate_list(circuit) -> str:
    parts = []
    for inst in circuit.data:
        qubits = ",".join(f"q[{circuit.find_bit(q).index}]" for q in inst.qubits)
        params = "".join(f"({p / math.pi:g}π)" for p in inst.operation.params)
        parts.append(f"{inst.operation.name}{params} {qubits}")
    return "; ".join(parts)
