"""Quantum tasks: the task file, its instances, and checking one answer by executing it.

A task file is a YAML list. An entry is a family (``replab.quantum.families``; ``family``
defaults to the ``id``, and the family says its ``kind``) with the sizes ``n`` and ``seeds`` to instantiate
and the seeds held out against contamination::

    - {id: qft, n: [2, 3, 4], seeds: [0], held_out_seeds: []}
    - {id: qft-small, family: qft, n: [2]}

or it names a circuit maker (a function ``(n, seed) -> QuantumCircuit`` in ``circuits.py``) with a prompt
(``{n}`` and ``{seed}`` filled per instance), the comparison and the mutations of ``families.MUTATIONS``
its verifier must reject — a new circuit task is this one entry plus at most that one function::

    - {id: ghz-again, kind: circuit, maker: ghz, prompt: "Prepare the {n}-qubit GHZ state.", n: [3, 4],
       equivalence: {target: state}, mutations: [do_nothing, wrong_width]}

or it is written out inline, with its ``kind``: a ``circuit`` with ``prompt``, ``reference`` (OpenQASM) and optionally
``equivalence`` and ``mutants`` (``[{answer, reason}]``); a ``concept`` with ``prompt`` and ``answer``.
Bad entries are refused naming the task id and the field; ``validate`` also checks that every reference
passes its own verifier and every mutant is rejected with its reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from replab import ASSETS
from replab.errors import DataError
from replab.quantum import circuits
from replab.quantum.families import FAMILIES, MUTATIONS, circuit_family
from replab.quantum.sandbox import Sandbox
from replab.quantum.schema import KINDS, REASONS, Built, Mutant, read_task_list
from replab.quantum.verify import (
    Constraints,
    Equivalence,
    Verdict,
    load_circuit,
    verify_circuit,
    verify_number,
)

DEFAULT_TASKS = ASSETS / "quantum" / "tasks.yaml"
_PYTHON = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.S)


@dataclass
class Instance:
    id: str  # "<task>/n=<n>,seed=<seed>"
    task: str
    kind: str
    n: int
    seed: int
    held_out: bool
    built: Built

    @property
    def prompt(self) -> str:
        return self.built.prompt


def extract_python(answer: str) -> str:
    """The Python program in a model's answer: the last fenced block that defines something, else the text."""
    blocks = [b for b in _PYTHON.findall(answer) if "def " in b or "import " in b]
    return (blocks[-1] if blocks else answer).strip() + "\n"


def check_answer(instance: Instance, answer: str, sandbox: Sandbox | None = None) -> Verdict:
    """Execute and verify one answer; code runs in ``sandbox`` (one is started when none is given)."""
    built = instance.built
    if instance.kind == "concept":
        return verify_number(answer, float(built.reference))
    if instance.kind == "code":
        own = sandbox is None
        sandbox = sandbox or Sandbox()
        try:
            outcome = sandbox.run(extract_python(answer), built.test, built.entry)
        finally:
            if own:
                sandbox.close()
        value = outcome.value if isinstance(outcome.value, int | float) else None
        return Verdict(outcome.passed, outcome.reason, outcome.detail, value,
                       {"isolation": outcome.isolation, "seconds": outcome.seconds})  # fmt: skip
    return verify_circuit(answer, built.reference, built.equivalence, built.constraints)


def load_tasks(
    path: str | Path | None = None, validate: bool = False, sandbox: Sandbox | None = None
) -> list[Instance]:
    path = Path(path) if path else DEFAULT_TASKS
    entries = read_task_list(path, yaml.safe_load, "YAML")
    instances, seen = [], set()
    for number, entry in enumerate(entries, 1):
        where = f"{path}: task '{entry.get('id', f'#{number}')}'" if isinstance(entry, dict) else f"{path}: #{number}"
        if not isinstance(entry, dict):
            raise DataError(f"{where}: each task is a mapping")
        if "id" not in entry:
            raise DataError(f"{where}: missing field 'id'")
        entry = _with_family(entry, where)
        if entry["kind"] not in KINDS:
            raise DataError(f"{where}: field 'kind': unknown '{entry['kind']}'; valid: {', '.join(KINDS)}")
        if entry["id"] in seen:
            raise DataError(f"{where}: field 'id': duplicate")
        seen.add(entry["id"])
        instances += _instances(entry, where)
    if validate:
        validate_instances(instances, path, sandbox)
    return instances


def _with_family(entry: dict[str, Any], where: str) -> dict[str, Any]:
    """The entry with its family (by default the family named like its id) and the family's kind filled in."""
    if "family" not in entry and entry["id"] in FAMILIES and "prompt" not in entry:
        entry = {**entry, "family": entry["id"]}
    if "maker" in entry:
        return {**entry, "kind": entry.get("kind", "circuit")}
    if "family" not in entry:
        if "kind" not in entry:
            raise DataError(f"{where}: missing field 'kind' (no family is named '{entry['id']}')")
        return entry
    family = FAMILIES.get(entry["family"])
    if family is None:
        raise DataError(f"{where}: field 'family': unknown '{entry['family']}'")
    if entry.get("kind", family.kind) != family.kind:
        raise DataError(f"{where}: field 'kind': family '{entry['family']}' is a {family.kind} family")
    return {**entry, "kind": family.kind}


def _instances(entry: dict[str, Any], where: str) -> list[Instance]:
    held = set(entry.get("held_out_seeds") or [])
    if "family" in entry or "maker" in entry:
        build = FAMILIES[entry["family"]].build if "family" in entry else _maker_family(entry, where)
        sizes, seeds = entry.get("n", [0]), entry.get("seeds", [0])
        return [Instance(f"{entry['id']}/n={n},seed={s}", entry["id"], entry["kind"], n, s, s in held,
                         build(n, s)) for n in sizes for s in seeds]  # fmt: skip
    return [Instance(f"{entry['id']}/inline", entry["id"], entry["kind"], 0, 0, False, _inline(entry, where))]


def _maker_family(entry: dict[str, Any], where: str):
    if entry["kind"] not in ("circuit", "synthesis", "dynamic"):
        raise DataError(f"{where}: field 'maker': a maker builds circuit, synthesis or dynamic tasks")
    make = getattr(circuits, str(entry["maker"]), None)
    if not callable(make) or str(entry["maker"]).startswith("_"):
        raise DataError(f"{where}: field 'maker': no function '{entry['maker']}' in {circuits.__name__}")
    if "prompt" not in entry:
        raise DataError(f"{where}: missing field 'prompt'")
    mutations = tuple(entry.get("mutations") or ("do_nothing", "wrong_width"))
    unknown = [m for m in mutations if m not in MUTATIONS]
    if unknown:
        raise DataError(f"{where}: field 'mutations': unknown '{unknown[0]}'; valid: {', '.join(MUTATIONS)}")
    spec = _dataclass(Equivalence, entry.get("equivalence") or {}, f"{where}: field 'equivalence'")
    limits = _constraints(entry, where)
    prompt = str(entry["prompt"])
    return circuit_family(lambda n, s: prompt.format(n=n, seed=s), make, spec, mutations,
                          version=3 if entry["kind"] == "dynamic" else 2,
                          constraints=(lambda n: limits) if limits else None)  # fmt: skip


def _inline(entry: dict[str, Any], where: str) -> Built:
    kind = entry["kind"]
    needed = {"concept": ("prompt", "answer"), "circuit": ("prompt", "reference"),
              "synthesis": ("prompt", "reference"), "dynamic": ("prompt", "reference")}.get(kind)  # fmt: skip
    if needed is None:
        raise DataError(f"{where}: field 'family': a {kind} task needs a family (inline tasks: circuit, concept)")
    for key in needed:
        if key not in entry:
            raise DataError(f"{where}: missing field '{key}'")
    mutants = []
    for k, m in enumerate(entry.get("mutants") or []):
        if not isinstance(m, dict) or "answer" not in m or m.get("reason") not in REASONS:
            raise DataError(f"{where}: field 'mutants[{k}]': needs 'answer' and a 'reason' in {', '.join(REASONS)}")
        mutants.append(Mutant(m.get("name", f"mutant-{k}"), str(m["answer"]), m["reason"]))
    if kind == "concept":
        return Built(entry["prompt"], float(entry["answer"]), f"ANSWER: {entry['answer']}", mutants)
    try:
        reference = load_circuit(str(entry["reference"]))
    except ValueError as exc:
        raise DataError(f"{where}: field 'reference': not a valid OpenQASM program ({exc})") from exc
    spec = _dataclass(Equivalence, entry.get("equivalence") or {}, f"{where}: field 'equivalence'")
    return Built(entry["prompt"], reference, str(entry["reference"]), mutants, spec, _constraints(entry, where))


def _constraints(entry: dict[str, Any], where: str) -> Constraints | None:
    if "constraints" not in entry:
        return None
    return _dataclass(Constraints, entry["constraints"], f"{where}: field 'constraints'")


def _dataclass(cls, data: dict[str, Any], where: str):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise DataError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def validate_instances(instances: list[Instance], path: Path | str = "tasks", sandbox: Sandbox | None = None) -> dict:
    """Every reference accepted and every mutant rejected with its reason; raises DataError naming the first
    task that fails; returns counts."""
    own = sandbox is None and any(i.kind == "code" for i in instances)
    sandbox = sandbox or (Sandbox() if own else None)
    counts = {"references": 0, "mutants": 0}
    try:
        for instance in instances:
            verdict = check_answer(instance, instance.built.answer, sandbox)
            if not verdict.passed:
                raise DataError(f"{path}: task '{instance.id}': field 'reference' fails its own check "
                                f"({verdict.reason}: {verdict.detail})")  # fmt: skip
            counts["references"] += 1
            for mutant in instance.built.mutants:
                got = check_answer(instance, mutant.answer, sandbox)
                if got.passed or got.reason != mutant.reason:
                    raise DataError(f"{path}: task '{instance.id}': mutant '{mutant.name}' should fail with "
                                    f"{mutant.reason}, got {'a pass' if got.passed else got.reason}")  # fmt: skip
                counts["mutants"] += 1
    finally:
        if own and sandbox is not None:
            sandbox.close()
    return counts


def revalidate(path: str | Path | None = None) -> str:
    """``replab quantum revalidate``: every reference and mutant of a task file (default: the shipped one) rerun
    on the installed qiskit; one line saying what held, or a DataError naming the first task that failed."""
    from replab.quantum.versions import versions

    counts = validate_instances(load_tasks(path or None), path or "the shipped tasks")
    return (f"{counts['references']} references accepted, {counts['mutants']} mutants rejected with their reasons "
            f"on {versions()}")  # fmt: skip
