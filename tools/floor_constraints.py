"""Pins every direct dependency of replab at the lower bound pyproject.toml declares (core, ``dev`` and the
extras of ``all``), for ``make test-floors``: a venv built with these constraints runs the fast suite on the
oldest versions replab claims to support.

    python tools/floor_constraints.py [--torch 2.13.0] > floors.txt
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

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


def main() -> None:
    pins = {pin for req in requirements() if (pin := floor(req))}
    if "--torch" in sys.argv:  # another torch than the floor (the floor's build may be too large to fetch)
        pins = {p for p in pins if not p.startswith("torch==")} | {f"torch=={sys.argv[sys.argv.index('--torch') + 1]}"}
    pins = sorted(pins, key=str.lower)
    sys.stdout.write("\n".join(pins) + "\n")


if __name__ == "__main__":
    main()
