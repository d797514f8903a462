"""The task families: each a builder of (prompt, reference, equivalence, constraints, mutants) for a given
size ``n`` and ``seed``. The table is data, ``families.yaml`` beside this file (each family's kind, prompt,
circuit maker, comparison, mutants, constraints, or its answer's name), checked field by field on load; this
module holds what the table names — the prompt fields, the mutations, the concept answers. A task file
(assets/quantum/tasks.yaml) names a family and the sizes and seeds to instantiate; every expected value is
computed per instance, never written by hand."""

from __future__ import annotations

import math
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from replab.errors import DataError
from replab.quantum import circuits as C
from replab.quantum.code_tasks import CODE_TASKS
from replab.quantum.schema import Built, Mutant
from replab.quantum.verify import Constraints, Equivalence

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


PROMPT_FIELDS: dict[str, Callable[[int, int], Any]] = {
    "n": lambda n, s: n,
    "last": lambda n, s: n - 1,
    "dim": lambda n, s: 2**n,
    "secret": lambda n, s: C.bits(n, s)[::-1],
    "parity": lambda n, s: s % 2,
    "marked_bits": lambda n, s: C.bits(n, s, nonzero=False)[::-1],
    "bell_name": lambda n, s: ("Φ+", "Φ−", "Ψ+", "Ψ−")[s % 4],
    "bell_ket": lambda n, s: ("(|00>+|11>)", "(|00>−|11>)", "(|01>+|10>)", "(|01>−|10>)")[s % 4],
    "rotation_gates": lambda n, s: _gate_list(C.rotations(n, s)),
    "grover_target": lambda n, s: C.grover_target(s)[::-1],
    "error": lambda n, s: s % 3,
    "marked": lambda n, s: 1 + s % 3,
    "eighths": lambda n, s: s % 7 + 1,
}
ANSWERS: dict[str, Callable[[int, int], float]] = {
    "qft_gate_count": _qft_gate_count,
    "grover_iterations": lambda n, s: math.floor(math.pi / 4 * math.sqrt(2**n / (1 + s % 3))),
    "toffoli_t_count": lambda n, s: 7,
    "hilbert_dimension": lambda n, s: 2**n,
    "swap_cnot_count": lambda n, s: 3 * n,
    "ghz_all_zero_probability": lambda n, s: 0.5,
    "ry_one_probability": lambda n, s: math.sin((s % 7 + 1) * math.pi / 16) ** 2,
    "rx_z_expectation": lambda n, s: math.cos((s % 7 + 1) * math.pi / 8),
    "ghz_chain_depth": lambda n, s: n,
    "dj_classical_queries": lambda n, s: 2 ** (n - 1) + 1,
    "uniform_amplitude": lambda n, s: 1 / math.sqrt(2**n),
    "bv_classical_queries": lambda n, s: n,
}
EQUIVALENCES = {"state": STATE, "unitary": UNITARY, "exact-unitary": EXACT_UNITARY}
FAMILY_FILE = Path(__file__).with_name("families.yaml")
FIELDS = {
    "circuit": {"kind", "prompt", "maker", "equivalence", "mutants", "constraints"},
    "dynamic": {"kind", "prompt", "maker", "name", "outputs", "mutants"},
    "concept": {"kind", "prompt", "answer"},
}
FIELDS["synthesis"] = FIELDS["circuit"]


def fill(template: str) -> Callable[[int, int], str]:
    """The prompt of ``template`` for (n, seed): only the fields it names are computed."""
    names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    return lambda n, s: template.format(**{name: PROMPT_FIELDS[name](n, s) for name in names})


def load_families(path: Path = FAMILY_FILE) -> dict[str, Family]:
    """The family table of ``path``, every field checked; a DataError names the file, the family and the field."""
    try:
        table = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"{path}: cannot be read as YAML ({exc})") from exc
    if not isinstance(table, dict):
        raise DataError(f"{path}: expected a mapping of family id → fields")
    return {name: _family(entry, f"{path}: family '{name}'") for name, entry in table.items()}


def _family(entry: Any, where: str) -> Family:
    kind = entry.get("kind") if isinstance(entry, dict) else None
    if kind not in FIELDS:
        raise DataError(f"{where}: field 'kind': expected one of {', '.join(FIELDS)}, got {kind!r}")
    unknown = sorted(set(entry) - FIELDS[kind])
    missing = sorted(FIELDS[kind] - set(entry) - {"constraints"})
    if unknown or missing:
        field_, what = (unknown[0], "unknown") if unknown else (missing[0], "missing")
        raise DataError(
            f"{where}: field '{field_}' {what} for kind {kind}; its fields: {', '.join(sorted(FIELDS[kind]))}"
        )
    prompt = _checked(entry, "prompt", where, str)
    fields_ = [name for _, name, _, _ in string.Formatter().parse(prompt) if name]
    if any(name not in PROMPT_FIELDS for name in fields_):
        bad = next(name for name in fields_ if name not in PROMPT_FIELDS)
        raise DataError(f"{where}: field 'prompt': unknown '{{{bad}}}'; valid: {', '.join(PROMPT_FIELDS)}")
    if kind == "concept":
        return Family(kind, _concept(fill(prompt), _lookup(ANSWERS, entry, "answer", where)))
    make = _lookup(vars(C), entry, "maker", where)
    mutants = tuple(_checked(entry, "mutants", where, list))
    for name in mutants:
        if name not in MUTATIONS:
            raise DataError(f"{where}: field 'mutants': unknown '{name}'; valid: {', '.join(MUTATIONS)}")
    if kind == "dynamic":
        outputs = tuple(_checked(entry, "outputs", where, list))
        spec = Equivalence(target="dynamic", inputs=(0,), outputs=outputs)
        return Family(kind, circuit_family(fill(prompt), _named(make, str(entry["name"])), spec, mutants, version=3))
    spec = _lookup(EQUIVALENCES, entry, "equivalence", where)
    return Family(kind, circuit_family(fill(prompt), make, spec, mutants, constraints=_constraints(entry, where)))


def _checked(entry: dict, key: str, where: str, kind: type) -> Any:
    if not isinstance(entry[key], kind):
        raise DataError(f"{where}: field '{key}': expected a {kind.__name__}, got {entry[key]!r}")
    return entry[key]


def _lookup(table: dict, entry: dict, key: str, where: str) -> Any:
    name = entry[key]
    if not isinstance(name, str) or name.startswith("_") or not callable(table.get(name)) and name not in table:
        valid = ", ".join(k for k, v in table.items() if not k.startswith("_") and (callable(v) or key != "maker"))
        raise DataError(f"{where}: field '{key}': unknown {name!r}; valid: {valid}")
    return table[name]


def _constraints(entry: dict, where: str) -> Callable[[int], Constraints] | None:
    given = entry.get("constraints")
    if given is None:
        return None
    if not isinstance(given, dict) or set(given) - {"gates", "max_depth"} or not isinstance(given.get("gates"), list):
        raise DataError(
            f"{where}: field 'constraints': expected {{gates: [...], max_depth: <int> or n}}, got {given!r}"
        )
    depth = given.get("max_depth")
    if depth not in (None, "n") and not isinstance(depth, int):
        raise DataError(f"{where}: field 'constraints.max_depth': expected a whole number or n, got {depth!r}")
    gates = tuple(given["gates"])
    return lambda n: Constraints(gates, max_depth=n if depth == "n" else depth) if depth else Constraints(gates)


FAMILIES: dict[str, Family] = {
    **load_families(),
    **{name: Family("code", task.build, task.description) for name, task in CODE_TASKS.items()},
}


def _gate_list(circuit) -> str:
    parts = []
    for inst in circuit.data:
        qubits = ",".join(f"q[{circuit.find_bit(q).index}]" for q in inst.qubits)
        params = "".join(f"({p / math.pi:g}π)" for p in inst.operation.params)
        parts.append(f"{inst.operation.name}{params} {qubits}")
    return "; ".join(parts)
