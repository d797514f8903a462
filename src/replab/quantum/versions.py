"""The versions a quantum result depends on, recorded with every run."""

from __future__ import annotations

import platform


def versions() -> dict[str, str]:
    """Python and every package of the ``quantum`` extra that results depend on."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("qiskit", "qiskit-aer", "qiskit-ibm-runtime", "pylatexenc"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out
