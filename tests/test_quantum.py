"""Quantum tasks: every shipped reference passes its own verifier and every mutant is rejected with its
reason; bad task files are named; the unbiased pass@k; the verifier's equivalence rules."""

import math
import re
from collections import Counter
from itertools import combinations

import pytest

from replab.errors import DataError
from replab.metrics.passk import auroc, cohen_kappa, pass_at_k
from replab.quantum import circuits as C
from replab.quantum.tasks import load_tasks, validate_instances
from replab.quantum.verify import Equivalence, counts_match, verify_circuit


def _validated(instances):
    counts = validate_instances(instances)  # raises, naming the task, on the first miss
    assert counts["references"] == len(instances) and counts["mutants"] == sum(len(i.built.mutants) for i in instances)
    reasons = Counter(m.reason for i in instances for m in i.built.mutants)
    for reason in ("not_equivalent", "wrong_width", "permutation_only", "constraint_violated", "syntax",
                   "api_drift", "import_denied"):  # fmt: skip
        assert reasons[reason] > 0, reason


def test_the_shipped_suite_is_large_enough_and_every_tasks_mutants_are_rejected():
    instances = load_tasks()
    tasks = {i.task: i for i in instances}
    kinds = Counter(i.kind for i in tasks.values())
    assert len(tasks) >= 40 and len(instances) >= 200
    assert kinds["circuit"] + kinds["synthesis"] >= 12 and kinds["code"] >= 10 and kinds["concept"] >= 10
    assert kinds["dynamic"] >= 4 and any(i.held_out for i in instances)
    assert all(len(i.built.mutants) >= 3 for i in instances)
    _validated(list(tasks.values()))  # one instance of every task here; every instance in the slow test


@pytest.mark.slow
def test_every_shipped_instance_accepts_its_reference_and_rejects_its_mutants():
    _validated(load_tasks())


def test_a_phase_oracle_is_not_passed_by_doing_nothing_on_basis_states():
    oracle = C.phase_oracle(3, 0)
    nothing = C.as_qasm(C.do_nothing(oracle))
    verdict = verify_circuit(nothing, oracle, Equivalence(target="unitary"))
    assert not verdict.passed and verdict.reason == "not_equivalent"


def test_global_phase_rules_are_per_task():
    ref = C.bitflip_oracle(2, 0)
    shifted = ref.copy()
    shifted.rz(2 * math.pi, 0)  # RZ(2π) = −I: the same operation up to a global phase of −1
    assert verify_circuit(C.as_qasm(shifted), ref, Equivalence(target="unitary")).passed
    exact = verify_circuit(C.as_qasm(shifted), ref, Equivalence(target="unitary", phase="exact"))
    assert not exact.passed and exact.reason == "not_equivalent"


def test_above_six_qubits_random_states_decide():
    ref = C.qft(8)
    assert verify_circuit(C.as_qasm(ref), ref, Equivalence(target="unitary")).passed
    bad = verify_circuit(C.as_qasm(C.extra_phase(ref, 3, "t")), ref, Equivalence(target="unitary"))
    assert not bad.passed and bad.reason == "not_equivalent"


def test_shot_counts_are_checked_by_a_multinomial_test_not_exact_counts():
    probabilities = {"00": 0.5, "11": 0.5}
    assert counts_match({"00": 2051, "11": 1949}, probabilities)[0]  # sampling noise passes
    assert not counts_match({"00": 3000, "11": 1000}, probabilities)[0]
    assert not counts_match({"00": 1999, "11": 2000, "01": 1}, probabilities)[0]  # an impossible outcome


def test_pass_at_k_is_the_unbiased_estimator():
    for n in range(1, 9):
        for c in range(n + 1):
            for k in range(1, n + 1):
                exact = 1 - math.comb(n - c, k) / math.comb(n, k)
                assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12)
    with pytest.raises(ValueError, match="k <= n"):
        pass_at_k(3, 1, 4)


def test_agreement_statistics():
    assert cohen_kappa([1, 0, 1, 0], [1, 0, 1, 0]) == pytest.approx(1.0)
    assert cohen_kappa([1, 1, 0, 0], [0, 0, 1, 1]) == pytest.approx(-1.0)
    assert auroc([0.9, 0.8, 0.1], [1, 1, 0]) == 1.0 and auroc([0.5, 0.5], [1, 0]) == 0.5
    pairs = list(combinations(range(4), 2))
    assert len(pairs) == 6


def _write(tmp_path, text):
    path = tmp_path / "tasks.yaml"
    path.write_text(text)
    return path


def test_a_task_is_its_family_by_id_or_one_entry_naming_a_maker(tmp_path):
    text = ("- {id: qft, n: [2], seeds: [0]}\n"
            "- {id: ghz-again, maker: ghz, prompt: 'Prepare the {n}-qubit GHZ state.', n: [3, 4],\n"
            "   equivalence: {target: state}, mutations: [do_nothing, wrong_width, sign_flip]}\n")  # fmt: skip
    instances = load_tasks(_write(tmp_path, text), validate=True)
    assert [(i.id, i.kind) for i in instances] == [("qft/n=2,seed=0", "circuit"), ("ghz-again/n=3,seed=0", "circuit"),
                                                  ("ghz-again/n=4,seed=0", "circuit")]  # fmt: skip
    assert instances[2].prompt.startswith("Prepare the 4-qubit GHZ state.")
    assert [m.reason for m in instances[1].built.mutants] == ["not_equivalent", "wrong_width", "not_equivalent"]


def test_bad_task_files_are_named(tmp_path):
    with pytest.raises(DataError, match=r"task 'x': missing field 'kind' \(no family is named 'x'\)"):
        load_tasks(_write(tmp_path, "- {id: x}\n"))
    with pytest.raises(DataError, match=r"task 'x': field 'kind': family 'qft' is a circuit family"):
        load_tasks(_write(tmp_path, "- {id: x, kind: concept, family: qft, n: [2]}\n"))
    with pytest.raises(DataError, match=r"task 'm': field 'maker': no function 'ghzz'"):
        load_tasks(_write(tmp_path, "- {id: m, maker: ghzz, prompt: p}\n"))
    with pytest.raises(DataError, match=r"task 'm': field 'mutations': unknown 'flip'"):
        load_tasks(_write(tmp_path, "- {id: m, maker: ghz, prompt: p, mutations: [flip]}\n"))
    with pytest.raises(DataError, match=r"task 'x': field 'kind': unknown 'poem'"):
        load_tasks(_write(tmp_path, "- {id: x, kind: poem}\n"))
    with pytest.raises(DataError, match=r"task 'x': field 'family': unknown 'qtf'"):
        load_tasks(_write(tmp_path, "- {id: x, kind: circuit, family: qtf}\n"))
    bell = 'OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; h q[0]; cx q[0],q[1];'
    wrong = "- id: own\n  kind: circuit\n  prompt: a Bell pair\n  reference: '" + bell + "'\n" \
            "  mutants: [{answer: '" + bell + "', reason: not_equivalent}]\n"  # fmt: skip
    with pytest.raises(DataError, match=r"task 'own/inline': mutant 'mutant-0' should fail with not_equivalent"):
        load_tasks(_write(tmp_path, wrong), validate=True)
    broken = (
        "- {id: q, kind: concept, prompt: two plus two, answer: 4, mutants: [{answer: 'ANSWER: 4', reason: syntax}]}\n"
    )
    with pytest.raises(DataError, match=r"task 'q/inline'"):
        load_tasks(_write(tmp_path, broken), validate=True)
    with pytest.raises(DataError, match=r"task 'z': field 'reference': not a valid OpenQASM"):
        load_tasks(_write(tmp_path, "- {id: z, kind: circuit, prompt: p, reference: 'qreg q[2]; hh q[0];'}\n"))


def test_the_family_table_is_data_checked_field_by_field(tmp_path):
    from replab.quantum.families import FAMILY_FILE, load_families

    families = load_families(FAMILY_FILE)
    assert len(families) >= 30 and {f.kind for f in families.values()} == {"circuit", "synthesis", "dynamic", "concept"}
    bad = {
        "kind: qubit\nprompt: x": "field 'kind'",
        "kind: circuit\nmaker: ghz\nequivalence: state\nmutants: [do_nothing]": "field 'prompt' missing",
        "kind: circuit\nmaker: nosuch\nequivalence: state\nmutants: [do_nothing]\nprompt: x": "field 'maker': unknown",
        "kind: circuit\nmaker: ghz\nequivalence: state\nmutants: [nosuch]\nprompt: x": "field 'mutants': unknown",
        "kind: circuit\nmaker: ghz\nequivalence: twisted\nmutants: []\nprompt: x": "field 'equivalence'",
        "kind: concept\nanswer: hilbert_dimension\nprompt: '{nosuch}'": "field 'prompt': unknown '{nosuch}'",
        "kind: concept\nanswer: nosuch\nprompt: x": "field 'answer'",
        "kind: concept\nanswer: hilbert_dimension\nprompt: x\ncolour: red": "field 'colour' unknown",
    }
    for body, message in bad.items():
        path = tmp_path / "families.yaml"
        path.write_text("my-family:\n" + "".join(f"  {line}\n" for line in body.splitlines()))
        with pytest.raises(DataError, match=rf"{path}: family 'my-family': {re.escape(message)}"):
            load_families(path)
