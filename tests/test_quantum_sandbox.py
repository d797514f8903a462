"""The sandbox: each attack a recorded failure within its limit (+1 s), the worker going on afterwards;
secrets scrubbed."""

import os

import pytest

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
