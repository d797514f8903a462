"""The command line: parsing (``replab --help``) imports no torch, every command the README documents parses
under its name (and the evaluation systems' commands under their old ``judge`` spellings too, which reach the
same function), and the generator-free audit loads without any diffusion module."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from replab.cli import COMMANDS, build_parser

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKED = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in {blocked!r}):
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
"""


def _run_blocked(blocked: list[str], code: str) -> subprocess.CompletedProcess:
    program = BLOCKED.format(blocked=blocked) + code
    return subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)


def test_replab_help_parses_with_torch_blocked():
    done = _run_blocked(["torch"], "from replab.cli import main\nmain(['--help'])")
    assert done.returncode == 0 and "diting" in done.stdout and "quantum" in done.stdout, done.stderr
    for system in ("diffusion sample", "eval fd", "fairness audit", "data skew", "quantum run", "diting score"):
        done = _run_blocked(["torch"], f"from replab.cli import main\nmain({system.split() + ['--help']!r})")
        assert done.returncode == 0 and "usage: replab" in done.stdout, (system, done.stderr[-500:])


def test_the_generator_free_audit_imports_no_diffusion_module():
    done = _run_blocked(["replab.diffusion"], "import replab.fairness.audit_images\nprint('loaded')")
    assert done.returncode == 0 and "loaded" in done.stdout, done.stderr[-800:]


def _readme_commands() -> list[list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    text = "\n".join(blocks).replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("replab ") and "<" not in line:
            commands.append(line.split()[1:])
    return commands


def test_every_readme_command_parses_under_its_name():
    commands = _readme_commands()
    assert {c[0] for c in commands} >= {"rae", "diffusion", "eval", "embed", "diting", "quantum", "fairness", "data"}
    for argv in commands:
        build_parser().parse_args(argv)


OLD = {"diting": ["judge"], "quantum run": ["judge", "run"], "quantum revalidate": ["judge", "quantum", "revalidate"],
       "quantum humaneval": ["judge", "quantum", "humaneval"]}  # fmt: skip


@pytest.mark.parametrize("argv", [c for c in _readme_commands() if c[0] in ("diting", "quantum")], ids=" ".join)
def test_an_evaluation_command_parses_the_same_under_its_old_spelling(argv, monkeypatch):
    key = "diting" if argv[0] == "diting" else " ".join(argv[:2])
    old = [*OLD[key], *argv[1:]] if argv[0] == "diting" else [*OLD[key], *argv[2:]]
    new_args, old_args = build_parser().parse_args(argv), build_parser().parse_args(old)
    assert old_args.system == "judge"
    reached = []
    monkeypatch.setitem(COMMANDS, "diting", lambda args: reached.append(("diting", vars(args))))
    monkeypatch.setitem(COMMANDS, "quantum", lambda args: reached.append(("quantum", vars(args))))
    from replab import cli

    monkeypatch.setattr(cli, "_diting", COMMANDS["diting"])
    monkeypatch.setattr(cli, "_quantum", COMMANDS["quantum"])
    COMMANDS["judge"](old_args)
    system, seen = reached[0]
    assert system == argv[0]
    expected = {k: v for k, v in vars(new_args).items() if k != "system"}
    assert {k: v for k, v in seen.items() if k in expected} == expected
