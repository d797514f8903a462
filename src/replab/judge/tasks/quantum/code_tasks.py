"""Code tasks: a Python function using Qiskit, checked in the sandbox by a hidden test that runs it and
compares by execution (never by exact seeded counts, never by overwriting the candidate's output).

Each hidden test defines ``check(candidate)``; it raises ``CheckFailed(reason, detail)`` (provided by the
sandbox) or AssertionError, and returns the agreement it measured."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from replab.judge.tasks.quantum.schema import Built, Mutant

CODE_RULES = "Reply with the complete Python function (imports included) in one ```python block."

# the comparison every circuit-returning test uses, inside the sandbox
_SAME_STATE = """
from qiskit import QuantumCircuit
from replab.judge.tasks.quantum.verify import Equivalence, compare


def same(circuit, reference, target="state"):
    if not isinstance(circuit, QuantumCircuit):
        raise CheckFailed("not_equivalent", f"returned a {type(circuit).__name__}, not a QuantumCircuit")
    if circuit.num_qubits != reference.num_qubits:
        raise CheckFailed("wrong_width", f"{circuit.num_qubits} qubits, expected {reference.num_qubits}")
    ok, value = compare(circuit, reference, Equivalence(target=target))
    if not ok:
        raise CheckFailed("not_equivalent", f"agreement {value:.6f}", value)
    return value
"""

_SAME = _SAME_STATE.replace("{", "{{").replace("}", "}}")  # inside the str.format templates below


@dataclass
class CodeTask:
    description: str
    entry: str
    signature: str
    reference: Callable[[int, int], str]
    test: Callable[[int, int], str]
    wrong: Callable[[int, int], str]  # a plausible wrong solution (not_equivalent)

    def build(self, n: int, seed: int):
        prompt = f"Write `{self.signature}`: {self.description.format(n=n, seed=seed)} {CODE_RULES}"
        reference = self.reference(n, seed)
        mutants = [
            Mutant("wrong_logic", self.wrong(n, seed), "not_equivalent"),
            Mutant("syntax_error", reference.replace("def ", "def (", 1), "syntax"),
            Mutant("api_drift", "from qiskit import execute\n" + reference, "api_drift"),
            Mutant("import_denied", "import subprocess\n" + reference, "import_denied"),
        ]
        return Built(prompt, reference, reference, mutants, test=self.test(n, seed), entry=self.entry)


def _fn(body: str) -> Callable[[int, int], str]:
    return lambda n, seed: body.format(n=n, seed=seed).strip() + "\n"


CODE_TASKS: dict[str, CodeTask] = {
    "code-bell-circuit": CodeTask(
        "return a 2-qubit circuit (no measurements) preparing (|00> + |11>)/√2.",
        "bell_circuit",
        "bell_circuit() -> QuantumCircuit",
        _fn(
            "from qiskit import QuantumCircuit\n\ndef bell_circuit():\n    qc = QuantumCircuit(2)\n    qc.h(0)\n"
            "    qc.cx(0, 1)\n    return qc"
        ),
        _fn(
            _SAME + "\ndef check(candidate):\n    ref = QuantumCircuit(2)\n    ref.h(0)\n    ref.cx(0, 1)\n"
            "    return same(candidate(), ref)"
        ),
        _fn(
            "from qiskit import QuantumCircuit\n\ndef bell_circuit():\n    qc = QuantumCircuit(2)\n    qc.h(0)\n"
            "    qc.h(1)\n    return qc"
        ),
    ),  # fmt: skip
    "code-ghz-circuit": CodeTask(
        "return an n-qubit circuit (no measurements) preparing the GHZ state; it is called with n = {n}.",
        "ghz_circuit",
        "ghz_circuit(n: int) -> QuantumCircuit",
        _fn(
            "from qiskit import QuantumCircuit\n\ndef ghz_circuit(n):\n    qc = QuantumCircuit(n)\n    qc.h(0)\n"
            "    for i in range(n - 1):\n        qc.cx(i, i + 1)\n    return qc"
        ),
        _fn(
            _SAME + "\nfrom replab.judge.tasks.quantum.circuits import ghz\n\ndef check(candidate):\n"
            "    return min(same(candidate(k), ghz(k)) for k in (2, {n}))"
        ),
        _fn(
            "from qiskit import QuantumCircuit\n\ndef ghz_circuit(n):\n    qc = QuantumCircuit(n)\n    qc.h(0)\n"
            "    qc.cx(0, n - 1)\n    return qc"
        ),
    ),  # fmt: skip
    "code-qft-circuit": CodeTask(
        "return the n-qubit quantum Fourier transform with its final swaps (equal to Qiskit's QFTGate up to a "
        "global phase); it is called with n = {n}.",
        "qft_circuit",
        "qft_circuit(n: int) -> QuantumCircuit",
        _fn(
            "from qiskit import QuantumCircuit\nfrom qiskit.circuit.library import QFTGate\n\ndef qft_circuit(n):\n"
            "    qc = QuantumCircuit(n)\n    qc.append(QFTGate(n), range(n))\n    return qc"
        ),
        _fn(
            _SAME + "\nfrom replab.judge.tasks.quantum.circuits import qft\n\ndef check(candidate):\n"
            "    return same(candidate({n}), qft({n}), target='unitary')"
        ),
        _fn(
            "from qiskit import QuantumCircuit\n\ndef qft_circuit(n):\n    qc = QuantumCircuit(n)\n    qc.h(range(n))\n"
            "    return qc"
        ),
    ),  # fmt: skip
    "code-bv-circuit": CodeTask(
        "return the Bernstein–Vazirani circuit (no measurements) for the secret bit string `secret` (secret[i] is "
        "qubit i) on len(secret) data qubits plus one ancilla last; the data qubits must end in |secret>.",
        "bv_circuit",
        "bv_circuit(secret: str) -> QuantumCircuit",
        _fn(
            "from qiskit import QuantumCircuit\n\ndef bv_circuit(secret):\n    n = len(secret)\n"
            "    qc = QuantumCircuit(n + 1)\n    qc.x(n)\n    qc.h(range(n + 1))\n    for i, b in enumerate(secret):\n"
            "        if b == '1':\n            qc.cx(i, n)\n    qc.h(range(n))\n    return qc"
        ),
        _fn(
            _SAME + "\nfrom replab.judge.tasks.quantum.circuits import bernstein_vazirani, bits\n\n"
            "def check(candidate):\n    return same(candidate(bits({n}, {seed})), bernstein_vazirani({n}, {seed}))"
        ),
        _fn(
            "from qiskit import QuantumCircuit\n\ndef bv_circuit(secret):\n    n = len(secret)\n"
            "    qc = QuantumCircuit(n + 1)\n    qc.h(range(n))\n    return qc"
        ),
    ),  # fmt: skip
    "code-grover-iterations": CodeTask(
        "return the optimal number of Grover iterations ⌊π/4·√(N/M)⌋ for N items with M marked.",
        "grover_iterations",
        "grover_iterations(N: int, M: int) -> int",
        _fn("import math\n\ndef grover_iterations(N, M):\n    return math.floor(math.pi / 4 * math.sqrt(N / M))"),
        _fn(
            "import math\n\ndef check(candidate):\n    for N, M in ((4, 1), (2 ** {n}, 1), (2 ** {n}, 3), (1024, 7)):\n"
            "        got = candidate(N, M)\n        want = math.floor(math.pi / 4 * math.sqrt(N / M))\n"
            "        if got != want:\n            raise CheckFailed('not_equivalent', f'N={{N}}, M={{M}}: {{got}} != {{want}}')\n"
            "    return 1.0"
        ),
        _fn("import math\n\ndef grover_iterations(N, M):\n    return round(math.sqrt(N / M))"),
    ),  # fmt: skip
    "code-probabilities": CodeTask(
        "return the exact measurement probabilities of a measurement-free circuit as a dict from bitstring "
        "(Qiskit order, q[n-1]…q[0]) to probability, omitting zero entries.",
        "probabilities",
        "probabilities(circuit: QuantumCircuit) -> dict[str, float]",
        _fn(
            "from qiskit.quantum_info import Statevector\n\ndef probabilities(circuit):\n"
            "    return {{k: v for k, v in Statevector(circuit).probabilities_dict().items() if v > 1e-12}}"
        ),
        _fn(
            "from qiskit.quantum_info import Statevector\nfrom replab.judge.tasks.quantum.circuits import rotations\n\n"
            "def check(candidate):\n    qc = rotations({n}, {seed})\n    want = Statevector(qc).probabilities_dict()\n"
            "    got = candidate(qc)\n    tvd = 0.5 * sum(abs(got.get(k, 0) - want.get(k, 0)) for k in set(got) | set(want))\n"
            "    if tvd > 1e-6:\n        raise CheckFailed('not_equivalent', f'total-variation distance {{tvd:.4f}}', 1 - tvd)\n"
            "    return 1 - tvd"
        ),
        _fn(
            "from qiskit.quantum_info import Statevector\n\ndef probabilities(circuit):\n"
            "    return {{k[::-1]: v for k, v in Statevector(circuit).probabilities_dict().items()}}"
        ),
    ),  # fmt: skip
    "code-expectation-z": CodeTask(
        "return the exact expectation value <Z> of qubit `qubit` after a measurement-free circuit, from |0…0>.",
        "expectation_z",
        "expectation_z(circuit: QuantumCircuit, qubit: int) -> float",
        _fn(
            "from qiskit.quantum_info import SparsePauliOp, Statevector\n\ndef expectation_z(circuit, qubit):\n"
            "    label = ['I'] * circuit.num_qubits\n    label[circuit.num_qubits - 1 - qubit] = 'Z'\n"
            "    return float(Statevector(circuit).expectation_value(SparsePauliOp(''.join(label))).real)"
        ),
        _fn(
            "from qiskit.quantum_info import SparsePauliOp, Statevector\n"
            "from replab.judge.tasks.quantum.circuits import rotations\n\ndef check(candidate):\n"
            "    qc = rotations({n}, {seed})\n    sv = Statevector(qc)\n    for q in range(qc.num_qubits):\n"
            "        label = ['I'] * qc.num_qubits\n        label[qc.num_qubits - 1 - q] = 'Z'\n"
            "        want = sv.expectation_value(SparsePauliOp(''.join(label))).real\n        got = candidate(qc, q)\n"
            "        if abs(got - want) > 1e-6:\n            raise CheckFailed('not_equivalent', f'qubit {{q}}: {{got}} != {{want}}')\n"
            "    return 1.0"
        ),
        _fn(
            "from qiskit.quantum_info import SparsePauliOp, Statevector\n\ndef expectation_z(circuit, qubit):\n"
            "    label = ['I'] * circuit.num_qubits\n    label[qubit] = 'Z'\n"
            "    return float(Statevector(circuit).expectation_value(SparsePauliOp(''.join(label))).real)"
        ),
    ),  # fmt: skip
    "code-two-qubit-count": CodeTask(
        "return the number of two-qubit gates in the circuit after transpiling it to the basis "
        "['cx', 'rz', 'sx', 'x'] with optimization_level=0.",
        "two_qubit_count",
        "two_qubit_count(circuit: QuantumCircuit) -> int",
        _fn(
            "from qiskit import transpile\n\ndef two_qubit_count(circuit):\n"
            "    flat = transpile(circuit, basis_gates=['cx', 'rz', 'sx', 'x'], optimization_level=0)\n"
            "    return sum(1 for inst in flat.data if len(inst.qubits) == 2)"
        ),
        _fn(
            "from replab.judge.tasks.quantum.circuits import qft\n"
            "from replab.judge.tasks.quantum.verify import resources\n\ndef check(candidate):\n"
            "    qc = qft({n})\n    want = resources(qc)['two_qubit']\n    got = candidate(qc)\n"
            "    if got != want:\n        raise CheckFailed('not_equivalent', f'{{got}} != {{want}}')\n    return 1.0"
        ),
        _fn("def two_qubit_count(circuit):\n    return sum(1 for inst in circuit.data if len(inst.qubits) == 2)"),
    ),  # fmt: skip
    "code-most-frequent": CodeTask(
        "return the most frequent bitstring of a counts dict (ties broken by the smaller bitstring).",
        "most_frequent",
        "most_frequent(counts: dict[str, int]) -> str",
        _fn("def most_frequent(counts):\n    return min(counts, key=lambda k: (-counts[k], k))"),
        _fn(
            "import random\n\ndef check(candidate):\n    rng = random.Random({seed})\n"
            "    keys = [format(i, '0{n}b') for i in range(2 ** {n})]\n"
            "    counts = {{k: rng.randint(0, 50) for k in reversed(keys)}}  # a tie the dict order does not break\n"
            "    counts[keys[0]] = counts[keys[-1]] = 51\n    want = keys[0]\n"
            "    got = candidate(counts)\n    if got != want:\n        raise CheckFailed('not_equivalent', f'{{got}} != {{want}}')\n"
            "    return 1.0"
        ),
        _fn("def most_frequent(counts):\n    return max(counts, key=counts.get)"),
    ),  # fmt: skip
    "code-sample-counts": CodeTask(
        "sample a measurement-free circuit `shots` times with qiskit's StatevectorSampler (measure_all first) "
        "and return the counts dict.",
        "sample_counts",
        "sample_counts(circuit: QuantumCircuit, shots: int) -> dict",
        _fn(
            "from qiskit.primitives import StatevectorSampler\n\ndef sample_counts(circuit, shots):\n"
            "    qc = circuit.measure_all(inplace=False)\n    result = StatevectorSampler().run([qc], shots=shots).result()\n"
            "    return result[0].data.meas.get_counts()"
        ),
        _fn(
            "from qiskit.quantum_info import Statevector\nfrom replab.judge.tasks.quantum.circuits import rotations\n"
            "from replab.judge.tasks.quantum.verify import counts_match\n\ndef check(candidate):\n"
            "    qc = rotations({n}, {seed})\n    counts = candidate(qc, 4000)\n"
            "    ok, p = counts_match(counts, Statevector(qc).probabilities_dict())  # false-reject rate 1e-4\n"
            "    if not ok:\n        raise CheckFailed('not_equivalent', f'multinomial test p = {{p:.2e}}', p)\n"
            "    return p"
        ),
        _fn(
            "def sample_counts(circuit, shots):\n    n = circuit.num_qubits\n"
            "    return {{format(i, f'0{{n}}b'): shots // 2 ** n for i in range(2 ** n)}}"
        ),
    ),  # fmt: skip
    "code-state-fidelity": CodeTask(
        "return the fidelity |<a|b>|² of the states two measurement-free circuits prepare from |0…0>.",
        "fidelity",
        "fidelity(a: QuantumCircuit, b: QuantumCircuit) -> float",
        _fn(
            "from qiskit.quantum_info import Statevector, state_fidelity\n\ndef fidelity(a, b):\n"
            "    return float(state_fidelity(Statevector(a), Statevector(b)))"
        ),
        _fn(
            "from qiskit.quantum_info import Statevector, state_fidelity\n"
            "from replab.judge.tasks.quantum.circuits import ghz, rotations\n\ndef check(candidate):\n"
            "    for a, b in ((rotations({n}, {seed}), ghz({n})), (ghz({n}), ghz({n}))):\n"
            "        want = state_fidelity(Statevector(a), Statevector(b))\n        got = candidate(a, b)\n"
            "        if abs(got - want) > 1e-6:\n            raise CheckFailed('not_equivalent', f'{{got}} != {{want}}')\n"
            "    return 1.0"
        ),
        _fn(
            "from qiskit.quantum_info import Statevector\n\ndef fidelity(a, b):\n"
            "    return float(abs((Statevector(a).data * Statevector(b).data).sum()))"
        ),
    ),  # fmt: skip
    "code-inverse": CodeTask(
        "return a circuit that undoes the given measurement-free circuit exactly.",
        "undo",
        "undo(circuit: QuantumCircuit) -> QuantumCircuit",
        _fn("def undo(circuit):\n    return circuit.inverse()"),
        _fn(
            _SAME + "\nfrom replab.judge.tasks.quantum.circuits import rotations\n\ndef check(candidate):\n"
            "    qc = rotations({n}, {seed})\n    return same(candidate(qc), qc.inverse(), target='unitary')"
        ),
        _fn("def undo(circuit):\n    return circuit.reverse_ops()"),
    ),  # fmt: skip
}
