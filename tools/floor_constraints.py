"""The lower bounds pyproject.toml declares for replab's direct dependencies (core, ``dev`` and the extras of
``all``), and the check ``make test-floors`` runs after uv installed them with ``--resolution lowest-direct``:
every direct dependency must sit exactly at its declared floor, so the suite that follows runs on the oldest
versions replab claims.

    python tools/floor_constraints.py                     # the floors, as pins
    python tools/floor_constraints.py --check freeze.txt  # exit 1 naming each dependency above its floor
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    chosen = ["dev", *re.findall(r"[a-z]+", extras["all"][0].split("[", 1)[1])]
    return project["dependencies"] + [req for name in chosen for req in extras[name]]


def floor(requirement: str) -> str | None:
    """``name>=1.2,<2`` → ``name==1.2``; None where no lower bound is declared."""
    match = re.match(r"\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)", requirement)
    name, spec = match.group(1), match.group(3)
    lower = re.search(r">=\s*([0-9][^,;\s]*)", spec)
    return f"{name}=={lower.group(1)}" if lower else None


def check(freeze: Path) -> list[str]:
    """The direct dependencies whose installed version (``pip freeze`` lines) is not their declared floor."""
    installed = {}
    for line in freeze.read_text().splitlines():
        if "==" in line:
            name, version = line.split("==", 1)
            installed[name.lower().replace("_", "-")] = version.split("+")[0]
    wrong = []
    for pin in sorted({pin for req in requirements() if (pin := floor(req))}):
        name, version = pin.split("==")
        have = installed.get(name.lower().replace("_", "-"))
        if have is None or [int(x) for x in re.findall(r"\d+", have)] != _padded(version, have):
            wrong.append(f"{name}: floor {version}, installed {have}")
    return wrong


def _padded(version: str, like: str) -> list[int]:
    numbers = [int(x) for x in re.findall(r"\d+", version)]
    return numbers + [0] * (len(re.findall(r"\d+", like)) - len(numbers))


def main() -> None:
    if "--check" in sys.argv:
        wrong = check(Path(sys.argv[sys.argv.index("--check") + 1]))
        for line in wrong:
            print(f"not at its floor: {line}")
        sys.exit(1 if wrong else 0)
    pins = sorted({pin for req in requirements() if (pin := floor(req))}, key=str.lower)
    sys.stdout.write("\n".join(pins) + "\n")


if __name__ == "__main__":
    main()
