"""The sandbox: each attack a recorded failure, killed at its limit, the worker going on afterwards;
secrets scrubbed."""

import os

import pytest

from replab.quantum.sandbox import ALLOWED_IMPORTS, Limits, Sandbox, inside

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
    assert outcome.seconds <= LIMITS.timeout_s + 10.0  # killed at its limit, not left to run (slack: a busy CI)
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


def test_containment_is_by_path_not_by_string_prefix(tmp_path):
    box = tmp_path / "replab-sandbox-abc"
    (box / "sub").mkdir(parents=True)
    (tmp_path / "replab-sandbox-abcevil").mkdir()
    real = os.path.realpath(box)
    assert inside(str(box / "sub" / "f.txt"), real) and inside(str(box), real)
    assert not inside(str(tmp_path / "replab-sandbox-abcevil" / "f.txt"), real)  # a sibling sharing the prefix
    assert not inside(str(box / ".." / "replab-sandbox-abcevil"), real)
    os.symlink(tmp_path, box / "out")
    assert not inside(str(box / "out" / "f.txt"), real)  # a link inside that leads out


# each runs in the sandbox's temporary directory (its cwd); none may leave a file outside it
ESCAPES = {
    "a sibling with the sandbox's name as prefix": (
        "import os\nopen(os.getcwd() + 'evil', 'w').write('x')\n",
        lambda cwd: cwd + "evil",
    ),
    "a symlink out of the sandbox": (
        "import os\nos.symlink('/tmp', 'out')\nopen('out/replab-sandbox-link-escape', 'w').write('x')\n",
        lambda cwd: "/tmp/replab-sandbox-link-escape",
    ),
    "a rename out of the sandbox": (
        "import os\nopen('f', 'w').write('x')\nos.rename('f', os.getcwd() + 'evil')\n",
        lambda cwd: cwd + "evil",
    ),
}


@pytest.mark.parametrize("name", list(ESCAPES))
def test_writes_that_would_land_outside_are_refused(sandbox, name):
    code, target = ESCAPES[name]
    probe = sandbox.run("import os\ncwd = os.getcwd()\n", "def check(ns):\n    return ns['cwd']\n", allowed=OPEN)
    outcome = sandbox.run(code, allowed=OPEN)
    assert not outcome.passed and outcome.reason == "runtime" and "sandbox refused" in outcome.detail, outcome
    # the next job's directory has another random name, so test the whole family of siblings too
    leftovers = [p for p in os.listdir("/tmp") if p.startswith("replab-sandbox-") and p.endswith(("evil", "escape"))]
    assert not leftovers and not os.path.exists(target(probe.value))


def test_the_isolation_level_is_recorded_for_killed_items(sandbox):
    outcome = sandbox.run("while True:\n    pass\n", allowed=OPEN, limits=Limits(timeout_s=1.0, memory_mb=1024))
    assert outcome.reason == "timeout" and "audit-hook" in outcome.isolation and "rlimits" in outcome.isolation
