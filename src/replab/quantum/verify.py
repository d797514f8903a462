"""Verifiers: a candidate answer against a task's reference, by executing both.

Equivalence is declared per task (``Equivalence``), never one global rule: what is compared (unitary,
state, distribution, or the input→output map of a dynamic circuit), whether the global phase counts,
whether a qubit permutation is allowed, and which qubits must match (the rest are ancillas that may end
as garbage). Unitaries are compared exactly up to 6 qubits; above that, 3 seeded random input states are
evolved through both circuits. Distributions are exact probabilities (final measurements stripped)
compared by total-variation distance. Dynamic circuits (mid-circuit measurement, feed-forward) are
simulated exactly, branch by branch, on at least 3 input states. Resources are counted after
decomposition to one fixed basis and reported as ratios to the reference.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

EXACT_QUBITS = 6
PERMUTATION_QUBITS = 12  # the permutation diagnosis tries n(n−1)/2 + 1 orders
TOL = 1e-9
BASIS = ("cx", "rz", "sx", "x")
ALWAYS_ALLOWED = {"measure", "barrier", "reset"}


@dataclass(frozen=True)
class Equivalence:
    target: str = "unitary"  # unitary | state | distribution | dynamic
    phase: str = "ignore_global"  # ignore_global | exact
    permutations: bool = False  # an answer equal up to a permutation of its qubits passes
    data_qubits: int | None = None  # qubits that must match; the rest are ancillas (None: all)
    ancillas: str = "clean"  # clean (must end in |0>) | garbage (anything)
    inputs: tuple[int, ...] = (0,)  # dynamic: qubits that receive the input state
    outputs: tuple[int, ...] = (0,)  # dynamic: qubits whose final state must match
    tvd: float = 1e-6


@dataclass(frozen=True)
class Constraints:
    gates: tuple[str, ...] = ()  # allowed gate names (empty: any)
    max_depth: int | None = None


@dataclass
class Verdict:
    passed: bool
    reason: str | None = None
    detail: str = ""
    fidelity: float | None = None
    resources: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# ---- parsing -----------------------------------------------------------------------------------------
_FENCE = re.compile(r"```(?:qasm|openqasm|qasm2|qasm3)?\s*\n(.*?)```", re.S | re.I)


def extract_qasm(answer: str) -> str:
    """The OpenQASM program in a model's answer: a fenced block, else the text from ``OPENQASM`` on."""
    for block in _FENCE.findall(answer):
        if "OPENQASM" in block.upper() or "qreg" in block or "qubit" in block:
            return block.strip()
    start = answer.upper().find("OPENQASM")
    return answer[start:].strip() if start >= 0 else answer.strip()


def load_circuit(text: str):
    """OpenQASM 2 or 3 → QuantumCircuit; raises ValueError with the parser's message."""
    from qiskit import qasm2, qasm3

    program = extract_qasm(text)
    try:
        if re.search(r"OPENQASM\s+3", program):
            return qasm3.loads(program)
        return qasm2.loads(program, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    except Exception as exc:  # the parsers raise several types; all mean "not a valid program"
        raise ValueError(f"{type(exc).__name__}: {str(exc)[:300]}") from None


def parse_answer_number(answer: str) -> float:
    """The number on the last ``ANSWER:`` line; ValueError when there is none."""
    found = re.findall(r"ANSWER\s*:\s*([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?:\s*/\s*\d+)?)", answer)
    if not found:
        raise ValueError("no 'ANSWER: <number>' line")
    text = found[-1].replace(" ", "")
    if "/" in text:
        num, den = text.split("/")
        return float(num) / float(den)
    return float(text)


# ---- comparisons -------------------------------------------------------------------------------------
def _strip(circuit):
    from qiskit.converters import circuit_to_dag

    stripped = circuit.remove_final_measurements(inplace=False)
    has_mid = any(node.op.name in ("measure", "reset") or node.op.name == "if_else"
                  for node in circuit_to_dag(stripped).op_nodes())  # fmt: skip
    return stripped, has_mid


def _unitary_fidelity(a, b, phase: str, seed: int = 0) -> float:
    """|<a|b>|-based agreement in [0, 1]: 1 when equal (up to a global phase if ``phase`` allows)."""
    from qiskit.quantum_info import Operator, random_statevector

    n = a.num_qubits
    if n <= EXACT_QUBITS:
        u, v = Operator(a).data, Operator(b).data
        overlap = np.trace(u.conj().T @ v) / u.shape[0]
        return float(abs(overlap)) if phase == "ignore_global" else float(max(0.0, overlap.real))
    overlaps = []
    for k in range(3):
        psi = random_statevector(2**n, seed=seed + k)
        overlaps.append(np.vdot(psi.evolve(a).data, psi.evolve(b).data))
    if phase == "ignore_global":  # one common phase for every input, not one per input
        common = overlaps[0] / abs(overlaps[0]) if abs(overlaps[0]) > 0 else 1.0
        return float(min((o / common).real for o in overlaps))
    return float(min(o.real for o in overlaps))


def _state_fidelity(a, b, spec: Equivalence) -> float:
    from qiskit.quantum_info import DensityMatrix, Statevector, partial_trace, state_fidelity

    sa, sb = Statevector(a), Statevector(b)
    keep = spec.data_qubits
    if keep is None or keep >= a.num_qubits:
        overlap = np.vdot(sa.data, sb.data)
        return float(abs(overlap) ** 2) if spec.phase == "ignore_global" else float(max(0.0, overlap.real))
    trace_out = list(range(keep, a.num_qubits))
    da, db = partial_trace(sa, trace_out), partial_trace(sb, trace_out)
    fidelity = float(state_fidelity(da, db))
    if spec.ancillas == "clean":
        zero = DensityMatrix.from_label("0" * len(trace_out))
        fidelity = min(fidelity, float(state_fidelity(partial_trace(sb, list(range(keep))), zero)))
    return fidelity


def _tvd(a, b) -> float:
    from qiskit.quantum_info import Statevector

    pa, pb = Statevector(a).probabilities_dict(), Statevector(b).probabilities_dict()
    return 0.5 * sum(abs(pa.get(k, 0.0) - pb.get(k, 0.0)) for k in set(pa) | set(pb))


def compare(candidate, reference, spec: Equivalence) -> tuple[bool, float]:
    """Whether two circuits agree under ``spec``, and the agreement (fidelity, or 1 − TVD)."""
    if spec.target == "dynamic":
        from replab.quantum.simulate import dynamic_fidelity

        value = dynamic_fidelity(candidate, reference, spec.inputs, spec.outputs)
        return value >= 1 - 1e-7, value
    a, _ = _strip(reference)
    b, _ = _strip(candidate)
    if spec.target == "unitary":
        value = _unitary_fidelity(a, b, spec.phase)
    elif spec.target == "state":
        value = _state_fidelity(a, b, spec)
    else:
        tvd = _tvd(a, b)
        return tvd <= spec.tvd, 1.0 - tvd
    return value >= 1 - 1e-7, value


def _only_permuted(candidate, reference, spec: Equivalence) -> bool:
    """Equal after reversing the qubit order or swapping one pair (the usual endianness slips): the output
    amplitudes of 3 seeded random inputs are permuted, so no circuit is simulated again per order."""
    from qiskit.quantum_info import random_statevector

    n = candidate.num_qubits
    if n > PERMUTATION_QUBITS or n < 2 or spec.target in ("dynamic", "distribution"):
        return False
    a, _ = _strip(reference)
    b, _ = _strip(candidate)
    if spec.target == "state":
        outputs = [(_state(a), _state(b))]
    else:
        inputs = [random_statevector(2**n, seed=101 + k) for k in range(3)]
        outputs = [(psi.evolve(a).data, psi.evolve(b).data) for psi in inputs]
    orders = [list(reversed(range(n)))]
    for i in range(n):
        for j in range(i + 1, n):
            order = list(range(n))
            order[i], order[j] = j, i
            orders.append(order)
    for order in orders:
        axes = [n - 1 - order[n - 1 - k] for k in range(n)]  # tensor axis k holds qubit n−1−k
        overlaps = [np.vdot(ra, rb.reshape([2] * n).transpose(axes).reshape(-1)) for ra, rb in outputs]
        if all(abs(o) > 1 - 1e-7 for o in overlaps) and (len(overlaps) == 1 or _one_phase(overlaps)):
            return True
    return False


def _one_phase(overlaps: list[complex]) -> bool:
    first = overlaps[0] / abs(overlaps[0])
    return all(abs(o / abs(o) - first) < 1e-6 for o in overlaps)


def _state(circuit) -> np.ndarray:
    from qiskit.quantum_info import Statevector

    return Statevector(circuit).data


def resources(circuit) -> dict[str, int]:
    """Gate count, two-qubit count and depth after decomposition to one fixed basis."""
    from qiskit import transpile

    stripped, _ = _strip(circuit)
    if any(inst.operation.name == "if_else" for inst in stripped.data):
        return {"gates": len(stripped.data), "two_qubit": sum(len(i.qubits) == 2 for i in stripped.data),
                "depth": stripped.depth()}  # fmt: skip
    flat = transpile(stripped, basis_gates=list(BASIS), optimization_level=0)
    ops = [i for i in flat.data if i.operation.name not in ALWAYS_ALLOWED]
    return {"gates": len(ops), "two_qubit": sum(len(i.qubits) == 2 for i in ops), "depth": flat.depth()}


def verify_circuit(answer: str, reference, spec: Equivalence, constraints: Constraints | None = None) -> Verdict:
    """An OpenQASM answer against a reference circuit."""
    try:
        candidate = load_circuit(answer)
    except ValueError as exc:
        return Verdict(False, "syntax", str(exc))
    if candidate.num_qubits != reference.num_qubits:
        return Verdict(False, "wrong_width", f"{candidate.num_qubits} qubits, the task needs {reference.num_qubits}")
    if constraints is not None:
        broken = _constraint_violation(candidate, constraints)
        if broken:
            return Verdict(False, "constraint_violated", broken)
    try:
        same, value = compare(candidate, reference, spec)
    except Exception as exc:  # a circuit qiskit cannot simulate (unsupported instruction, ...)
        return Verdict(False, "runtime", f"{type(exc).__name__}: {str(exc)[:300]}")
    if same:
        return Verdict(True, None, "", value, _resource_ratios(candidate, reference))
    if _only_permuted(candidate, reference, spec):
        if spec.permutations:
            return Verdict(True, None, "equal up to a qubit permutation (allowed)", 1.0,
                           _resource_ratios(candidate, reference))  # fmt: skip
        return Verdict(False, "permutation_only", "equal up to a qubit permutation", value)
    return Verdict(False, "not_equivalent", f"agreement {value:.6f}", value)


def _resource_ratios(candidate, reference) -> dict[str, float]:
    """The candidate's resources and their ratios to the reference's (computed once per reference)."""
    used = resources(candidate)
    ref = reference.metadata.get("replab_resources") if isinstance(reference.metadata, dict) else None
    if ref is None:
        ref = resources(reference)
        if isinstance(reference.metadata, dict):
            reference.metadata["replab_resources"] = ref
    return {**used, **{f"{k}_ratio": (used[k] / ref[k] if ref[k] else float(used[k] == 0)) for k in used}}


def _constraint_violation(circuit, constraints: Constraints) -> str:
    if constraints.gates:
        used = {i.operation.name for i in circuit.data} - ALWAYS_ALLOWED
        extra = sorted(used - set(constraints.gates))
        if extra:
            return f"gates {', '.join(extra)} are not in the allowed set {', '.join(constraints.gates)}"
    if constraints.max_depth is not None and circuit.depth() > constraints.max_depth:
        return f"depth {circuit.depth()} exceeds the limit {constraints.max_depth}"
    return ""


def verify_number(answer: str, expected: float, rel: float = 1e-3, abs_tol: float = 1e-6) -> Verdict:
    """An integer must match exactly; a real number to ``rel`` (four significant digits by default)."""
    try:
        value = parse_answer_number(answer)
    except ValueError as exc:
        return Verdict(False, "syntax", str(exc))
    exact = float(expected).is_integer()
    if (exact and abs(value - expected) < 1e-9) or (not exact and math.isclose(value, expected, rel_tol=rel,
                                                                                abs_tol=abs_tol)):  # fmt: skip
        return Verdict(True, None, "", 1.0)
    return Verdict(False, "not_equivalent", f"answered {value:g}, expected {expected:g}", 0.0)


def counts_match(counts: dict[str, int], probabilities: dict[str, float], alpha: float = 1e-4) -> tuple[bool, float]:
    """A multinomial goodness-of-fit test of shot counts against exact probabilities; ``alpha`` is the rate
    at which a correct sampler is rejected. A count on an outcome of probability 0 always rejects."""
    from scipy import stats

    keys = sorted(set(counts) | {k for k, p in probabilities.items() if p > 0})
    if any(counts.get(k, 0) > 0 and probabilities.get(k, 0.0) <= 1e-12 for k in keys):
        return False, 0.0
    observed = np.array([counts.get(k, 0) for k in keys], float)
    expected = np.array([probabilities.get(k, 0.0) for k in keys]) * observed.sum()
    if len(keys) == 1:
        return True, 1.0
    p_value = float(stats.chisquare(observed, expected).pvalue)
    return p_value >= alpha, p_value
