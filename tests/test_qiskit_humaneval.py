"""Qiskit HumanEval as its authors run it, in replab's sandbox: one namespace for prompt + completion + test,
the hard variant without the prompt, ``network_required`` decided by what running the task did, every wrong
completion a fixed reason, every attack recorded within its limit. The task files are written here, in the
benchmark's format (replab ships none of its files)."""

import json
import time

import pytest

from replab.cli import main
from replab.errors import DataError
from replab.quantum import humaneval as he

PROMPT = ('from qiskit import QuantumCircuit\nfrom qiskit.quantum_info import Statevector\n\n\n'
          'def bell() -> QuantumCircuit:\n    """A circuit preparing (|00> + |11>)/sqrt(2)."""\n')  # fmt: skip
# the test uses Statevector and QuantumCircuit without importing them: only the prompt does
TEST = ("def check(candidate):\n    state = Statevector(candidate())\n"
        "    assert isinstance(candidate(), QuantumCircuit)\n"
        "    assert abs(abs(state[0]) ** 2 - 0.5) < 1e-9 and abs(abs(state[3]) ** 2 - 0.5) < 1e-9\n")  # fmt: skip
BELL = "    qc = QuantumCircuit(2)\n    qc.h(0)\n    qc.cx(0, 1)\n    return qc\n"
FAKE_BACKEND_PROMPT = (
    "from qiskit import QuantumCircuit, transpile\nfrom qiskit_ibm_runtime.fake_provider import FakeManilaV2\n\n\n"
    'def native_ghz() -> QuantumCircuit:\n    """A 3-qubit GHZ circuit transpiled for the fake Manila backend."""\n'
)  # fmt: skip
FAKE_BACKEND_TEST = ("def check(candidate):\n    circuit = candidate()\n"
                     "    assert set(circuit.count_ops()) <= set(FakeManilaV2().operation_names)\n")  # fmt: skip
FAKE_BACKEND = ("    qc = QuantumCircuit(3)\n    qc.h(0)\n    qc.cx(0, 1)\n    qc.cx(1, 2)\n"
                "    return transpile(qc, backend=FakeManilaV2(), seed_transpiler=0)\n")  # fmt: skip
CLOUD_PROMPT = ("from qiskit_ibm_runtime import QiskitRuntimeService\n\n\n"
                'def least_busy_name() -> str:\n    """The least busy IBM backend."""\n')  # fmt: skip
CLOUD_TEST = "def check(candidate):\n    assert isinstance(candidate(), str)\n"
HARD_TEST = TEST.replace("def check", "from qiskit import QuantumCircuit\nfrom qiskit.quantum_info import "
                         "Statevector\n\n\ndef check") + "\n\ncheck(bell)\n"  # fmt: skip


def _task(number, prompt=PROMPT, solution=BELL, test=TEST, entry="bell", difficulty="basic"):
    return {"task_id": f"qiskitHumanEval/{number}", "prompt": prompt, "canonical_solution": solution, "test": test,
            "entry_point": entry, "difficulty_scale": difficulty}  # fmt: skip


def _file(tmp_path, tasks, name="qiskit_humaneval.json"):
    path = tmp_path / name
    path.write_text(json.dumps(tasks))
    return path


@pytest.fixture(scope="module")
def sandbox():
    with he.humaneval_sandbox() as box:
        yield box


def test_the_test_sees_the_names_the_prompt_imports(sandbox):
    outcome = he.run_completion(_task(0), BELL, sandbox)
    assert outcome.passed, outcome


def test_a_task_on_a_fake_backend_passes_offline(sandbox):
    task = _task(1, FAKE_BACKEND_PROMPT, FAKE_BACKEND, FAKE_BACKEND_TEST, "native_ghz", "intermediate")
    outcome = he.run_completion(task, FAKE_BACKEND, sandbox)
    assert outcome.passed, outcome
    assert "audit-hook" in outcome.isolation  # no network was needed, none was given


def test_an_ibm_account_lookup_is_network_required(sandbox):
    task = _task(2, CLOUD_PROMPT, "    return QiskitRuntimeService().least_busy().name\n", CLOUD_TEST,
                 "least_busy_name")  # fmt: skip
    outcome = he.run_completion(task, task["canonical_solution"], sandbox)
    assert not outcome.passed and outcome.reason == "network_required", outcome


def test_the_hard_variant_runs_the_completion_without_the_prompt(sandbox):
    whole = "from qiskit import QuantumCircuit\n\n\ndef bell():\n" + BELL
    task = _task(3, "Write a function bell() returning a Bell-pair circuit.", whole, HARD_TEST)
    assert he.run_completion(task, whole, sandbox, "hard").passed
    body_only = he.run_completion(task, BELL, sandbox, "hard")  # without the prompt a body is not a program
    assert not body_only.passed and body_only.reason == "syntax"
    assert he.calls_check(HARD_TEST) and not he.calls_check(TEST)


WRONG = {
    "syntax": "    return QuantumCircuit(2\n",
    "import_denied": "    import subprocess\n    return None\n",
    "api_drift": "    from qiskit import execute\n    return None\n",
    "missing_dependency": "    import seaborn_not_installed_here\n    return None\n",
    "not_equivalent": "    return QuantumCircuit(2)\n",
    "runtime": "    return 1 / 0\n",
}


@pytest.mark.parametrize("reason", list(WRONG))
def test_each_kind_of_wrong_completion_gets_its_reason(sandbox, reason):
    allowed = he.HUMANEVAL_IMPORTS + ("seaborn_not_installed_here",)
    code = he.program(_task(4), WRONG[reason])
    outcome = sandbox.run_program(code, "bell", allowed, he.Limits(timeout_s=10))
    assert not outcome.passed and outcome.reason == reason, outcome


def test_a_program_without_the_entry_point_is_missing_entry(sandbox):
    task = _task(5, "Write bell().", "", HARD_TEST.replace("\n\ncheck(bell)\n", "\n"))
    outcome = he.run_completion(task, "x = 1\n", sandbox, "hard")
    assert not outcome.passed and outcome.reason == "missing_entry"


ATTACKS = {
    "loop": ("    while True:\n        pass\n", "timeout"),
    "10 GB": ("    block = bytearray(10 * 1024 ** 3)\n    return block\n", "memory"),
    "socket": ("    import socket\n    socket.create_connection(('127.0.0.1', 9))\n", "network_required"),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attacks_are_recorded_within_the_limit_and_the_next_task_runs(sandbox, name):
    code, reason = ATTACKS[name]
    limit = 3.0
    start = time.perf_counter()
    outcome = sandbox.run_program(he.program(_task(6), code), "bell", he.HUMANEVAL_IMPORTS + ("socket",),
                                  he.Limits(timeout_s=limit))  # fmt: skip
    assert time.perf_counter() - start <= limit + 1.0
    assert not outcome.passed and outcome.reason == reason, outcome
    assert he.run_completion(_task(7), BELL, sandbox).passed


def test_answers_become_completions_body_or_whole_function():
    task = _task(8)
    fenced_body = "Here:\n```python\nqc = QuantumCircuit(2)\nqc.h(0)\nqc.cx(0, 1)\nreturn qc\n```"
    assert he.completion_from_answer(task, fenced_body).startswith("    qc = QuantumCircuit(2)\n")
    whole = "```python\nfrom qiskit import QuantumCircuit\n\ndef bell():\n" + BELL + "```"
    assert he.completion_from_answer(task, whole).startswith("from qiskit import QuantumCircuit\n\ndef bell():")
    assert he.completion_from_answer(task, BELL) == BELL  # an indented body, unfenced, as it came
    assert he.completion_from_answer(task, "```\nimport qiskit\n```", "hard") == "import qiskit\n"


def test_the_reference_check_writes_a_report_and_compares_with_the_official_results(tmp_path, capsys):
    tasks = [_task(0), _task(1, solution="    return QuantumCircuit(2)\n", difficulty="intermediate"),
             _task(2, CLOUD_PROMPT, "    return QiskitRuntimeService().least_busy().name\n", CLOUD_TEST,
                   "least_busy_name")]  # fmt: skip
    data = _file(tmp_path, tasks)
    official = tmp_path / "official.json"  # shaped like test_solutions.py -o: task 1 passed there, task 2 failed
    official.write_text(json.dumps({
        "summary": {"total_passed": 2, "total_tested": 3}, "datasets": {str(data): {"passed": 2, "total": 3}},
        "failures": [{"task_id": "qiskitHumanEval/2", "dataset": str(data), "error": "AccountNotFoundError"}],
    }))  # fmt: skip
    out = tmp_path / "reports" / "references.json"
    assert main(["judge", "quantum", "humaneval", "--data", str(data), "--out", str(out),
                 "--compare", str(official)]) == 0  # fmt: skip
    screen = capsys.readouterr().out
    assert "1 / 3 reference solutions pass" in screen and "1 task(s) disagree" in screen
    assert "qiskitHumanEval/1" in screen.split("official harness")[1]
    report = json.loads(out.read_text())
    assert report["by_reason"] == {"not_equivalent": 1, "network_required": 1}
    assert report["by_difficulty"] == {"basic": {"tasks": 2, "passed": 1}, "intermediate": {"tasks": 1, "passed": 0}}
    assert [d["task_id"] for d in report["disagreements"]] == ["qiskitHumanEval/1"]
    assert report["versions"]["qiskit-ibm-runtime"] != "not installed" and "pylatexenc" in report["versions"]
    assert {r["task_id"]: r["reason"] for r in report["results"]}["qiskitHumanEval/2"] == "network_required"


def test_the_reference_check_writes_each_task_as_it_finishes_and_resumes(tmp_path, capsys):
    data = _file(tmp_path, [_task(0), _task(1, solution="    return QuantumCircuit(2)\n")])
    out = tmp_path / "refs.json"
    items = tmp_path / "refs.json.items.jsonl"
    assert main(["judge", "quantum", "humaneval", "--data", str(data), "--out", str(out)]) == 0
    lines = [json.loads(line) for line in items.read_text().splitlines()]
    assert [r["task_id"] for r in lines] == ["qiskitHumanEval/0", "qiskitHumanEval/1"]
    lines[1]["detail"] = "kept from the first run"  # a rerun must read finished tasks back, not redo them
    items.write_text(json.dumps(lines[0]) + "\n" + json.dumps(lines[1]) + "\n" + '{"task_id": "qiskitHum')
    assert main(["judge", "quantum", "humaneval", "--data", str(data), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["results"][1]["detail"] == "kept from the first run" and report["tasks"] == 2
    assert items.read_text().endswith("}\n")  # the line a kill cut short is gone
    capsys.readouterr()
    assert main(["judge", "quantum", "humaneval", "--data", str(data), "--out", str(out), "--timeout", "5"]) == 2
    assert "results of another data file, variant or timeout" in capsys.readouterr().err


def test_bad_files_are_named(tmp_path):
    tasks = [_task(0), _task(1)]
    del tasks[1]["entry_point"]
    with pytest.raises(DataError, match=r"task 'qiskitHumanEval/1': missing field 'entry_point'"):
        he.load_humaneval(_file(tmp_path, tasks))
    bad = tmp_path / "official.json"
    bad.write_text("{}")
    with pytest.raises(DataError, match="not a results file of the official harness"):
        he.official_passes(bad, ["qiskitHumanEval/0"], "normal")


def _run_tasks():
    return [_task(0), _task(1, FAKE_BACKEND_PROMPT, FAKE_BACKEND, FAKE_BACKEND_TEST, "native_ghz", "intermediate"),
            _task(2, CLOUD_PROMPT, "    return QiskitRuntimeService().least_busy().name\n", CLOUD_TEST,
                  "least_busy_name", "intermediate")]  # fmt: skip


def _responder():
    calls: dict[str, int] = {}

    def respond(messages):
        prompt = messages[-1]["content"]
        calls[prompt] = calls.get(prompt, 0) + 1
        if "def bell" in prompt:  # a body, flush left, then a wrong one
            body = (
                "qc = QuantumCircuit(2)\nqc.h(0)\nqc.cx(0, 1)\nreturn qc"
                if calls[prompt] == 1
                else "return QuantumCircuit(2)"
            )
            return f"Sure.\n```python\n{body}\n```"
        if "native_ghz" in prompt:  # the whole function re-stated, both times
            return f"```python\n{FAKE_BACKEND_PROMPT}{FAKE_BACKEND}```"
        return "```python\n    return QiskitRuntimeService().least_busy().name\n```"

    return respond


def test_a_model_is_scored_through_an_openai_compatible_server(tmp_path):
    from tests.fake_openai_server import FakeOpenAIServer

    data, out = _file(tmp_path, _run_tasks()), tmp_path / "he"
    with FakeOpenAIServer(responder=_responder()) as server:
        args = ["judge", "run", "--task", "qiskit-humaneval", "--data", str(data), "--backend", "openai:m",
                "--base-url", server.base_url, "--samples", "2", "--out", str(out)]  # fmt: skip
        assert main(args) == 0
        asked = len(server.requests)
        assert asked == 6 and "```python\nfrom qiskit import" in server.requests[0]["body"]["messages"][-1]["content"]
        assert main(args) == 0 and len(server.requests) == asked  # resumed by item id: nothing asked again
    summary = json.loads((out / "summary.json").read_text())
    table = summary["table"]
    assert summary["items"] == 6 and summary["errors"] == 0
    assert table["basic"]["pass@1"] == pytest.approx(0.5) and table["basic"]["pass@2"] == pytest.approx(1.0)
    assert table["basic"]["reasons"] == {"not_equivalent": 1}
    assert table["intermediate"] == {"tasks": 2, "pass@1": 0.5, "pass@2": 0.5, "reasons": {"network_required": 2}}
    assert table["all"]["tasks"] == 3 and table["all"]["pass@1"] == pytest.approx(0.5)
    assert summary["versions"]["qiskit-ibm-runtime"] != "not installed"
    assert (out / "artifacts" / "report.md").exists() and (out / "artifacts" / "pass_by_difficulty.png").exists()
    assert (out / "footprint.json").exists()


def test_a_model_run_checks_its_data_before_making_a_run_folder(tmp_path, capsys):
    out = tmp_path / "never"
    code = main(["judge", "run", "--task", "qiskit-humaneval", "--data", str(tmp_path / "missing.json"),
                 "--backend", "openai:m", "--base-url", "http://127.0.0.1:9/v1", "--out", str(out)])  # fmt: skip
    assert code != 0 and "missing.json: cannot be read as JSON" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
def test_local_smollm2_scored_on_five_tasks_end_to_end(tmp_path):
    tasks = [*_run_tasks(), _task(3, solution="    return QuantumCircuit(2)\n"),
             _task(4, "Write a function bell() returning a Bell-pair circuit.", test=HARD_TEST)]  # fmt: skip
    data, out = _file(tmp_path, tasks), tmp_path / "smollm2"
    assert main(["judge", "run", "--task", "qiskit-humaneval", "--data", str(data), "--backend", "local:smollm2",
                 "--samples", "2", "--max-tokens", "128", "--out", str(out)]) == 0  # fmt: skip
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 10 and all(r["passed"] or r["reason"] for r in lines)  # every item measured
    summary = json.loads((out / "summary.json").read_text())
    assert summary["errors"] == 0 and summary["table"]["all"]["tasks"] == 5
    assert (out / "artifacts" / "report.md").exists()
