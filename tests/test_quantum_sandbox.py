"""The sandbox: each attack a recorded failure within its limit (+1 s), the worker going on afterwards;
secrets scrubbed; Qiskit HumanEval files (written here, in that format) run in it."""

import json
import os

import pytest

from replab.errors import DataError
from replab.judge.tasks.quantum.humaneval import load_humaneval, revalidate_humaneval
from replab.judge.tasks.quantum.sandbox import ALLOWED_IMPORTS, Limits, Sandbox

LIMITS = Limits(timeout_s=2.0, memory_mb=1024)
OPEN = (*ALLOWED_IMPORTS, "os", "socket", "subprocess")  # the import allowlist off: the hooks must hold
ATTACKS = {
    "infinite loop": ("while True:\n    pass\n", "timeout"),
    "10 GB allocation": ("block = bytearray(10 * 1024 ** 3)\n", "memory"),
    "socket": ("import socket\nsocket.create_connection(('127.0.0.1', 9))\n", "network_required"),
    "write outside the temp dir": ("open('/tmp/replab-sandbox-escape.txt', 'w').write('x')\n", "runtime"),
    "os.system": ("import os\nos.system('touch /tmp/replab-sandbox-system')\n", "runtime"),
    "fork bomb": ("import os\nwhile True:\n    os.fork()\n", "runtime"),
    "subprocess": ("import subprocess\nsubprocess.run(['true'])\n", "runtime"),
}


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(LIMITS) as box:
        yield box


@pytest.mark.parametrize("name", list(ATTACKS))
def test_each_attack_is_a_recorded_failure_and_the_run_goes_on(sandbox, name):
    code, reason = ATTACKS[name]
    outcome = sandbox.run(code, allowed=OPEN)
    assert not outcome.passed and outcome.reason == reason, outcome
    assert outcome.seconds <= LIMITS.timeout_s + 1.0
    assert "audit-hook" in outcome.isolation or reason == "timeout"
    after = sandbox.run("x = 1\n", "def check(ns):\n    return ns['x']\n")
    assert after.passed and after.value == 1  # the worker survives and serves the next item
    assert not os.path.exists("/tmp/replab-sandbox-escape.txt") and not os.path.exists("/tmp/replab-sandbox-system")


def test_secrets_never_reach_candidate_code(sandbox, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-candidates")
    with Sandbox(LIMITS) as fresh:  # a worker started with the key in its parent's environment
        outcome = fresh.run("import os\nkeys = sorted(os.environ)\n", "def check(ns):\n    return ns['keys']\n",
                            allowed=OPEN)  # fmt: skip
    assert outcome.passed and "OPENAI_API_KEY" not in outcome.value


def test_the_allowlist_names_denied_imports(sandbox):
    outcome = sandbox.run("import shutil\n")
    assert outcome.reason == "import_denied" and "shutil" in outcome.detail


def _humaneval(tmp_path):
    prompt = 'from qiskit import QuantumCircuit\n\ndef bell():\n    """A Bell pair."""\n'
    test = ("from qiskit.quantum_info import Statevector\n\ndef check(candidate):\n"
            "    state = Statevector(candidate())\n    assert abs(abs(state[0]) ** 2 - 0.5) < 1e-9\n")  # fmt: skip
    bell = "    qc = QuantumCircuit(2)\n    qc.h(0)\n    qc.cx(0, 1)\n    return qc\n"
    tasks = [
        {"task_id": "qiskitHumanEval/0", "prompt": prompt, "entry_point": "bell", "difficulty_scale": "basic",
         "canonical_solution": bell, "test": test},
        {"task_id": "qiskitHumanEval/1", "prompt": "from qiskit import execute\n" + prompt, "entry_point": "bell",
         "difficulty_scale": "basic", "canonical_solution": "    return None\n", "test": test},
        {"task_id": "qiskitHumanEval/2", "prompt": "from qiskit_ibm_runtime import QiskitRuntimeService\n" + prompt,
         "entry_point": "bell", "difficulty_scale": "intermediate",
         "canonical_solution": "    return QiskitRuntimeService().backend()\n", "test": test},
        {"task_id": "qiskitHumanEval/3", "prompt": prompt, "entry_point": "bell", "difficulty_scale": "basic",
         "canonical_solution": "    return QuantumCircuit(2)\n", "test": test},
    ]  # fmt: skip
    path = tmp_path / "qiskit_humaneval.json"
    path.write_text(json.dumps(tasks))
    return path


def test_humaneval_references_are_run_and_counted_by_reason(tmp_path):
    report = revalidate_humaneval(_humaneval(tmp_path), timeout_s=10)
    assert report["tasks"] == 4 and report["passed"] == 1
    assert report["by_reason"] == {"api_drift": 1, "network_required": 1, "not_equivalent": 1}


def test_a_humaneval_file_with_a_missing_field_is_named(tmp_path):
    path = _humaneval(tmp_path)
    tasks = json.loads(path.read_text())
    del tasks[2]["entry_point"]
    path.write_text(json.dumps(tasks))
    with pytest.raises(DataError, match=r"task 'qiskitHumanEval/2': missing field 'entry_point'"):
        load_humaneval(path)
