"""A package's public names, imported on first use (PEP 562), so that importing the package imports none of
its heavy modules (qiskit, training) until a name is asked for."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """The ``__getattr__`` of ``package``: each name of ``where`` from its module (``where[name]``, relative)."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        return getattr(import_module(f"{package}.{where[name]}"), name)

    return __getattr__
