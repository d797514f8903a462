"""Plain dataclass configs, named YAML presets and ``key=value`` overrides.

A config is a tree of dataclasses. A preset is a YAML file under ``replab/presets/<group>/``
whose keys mirror the dataclass fields; any value can be overridden on the command line with a
dotted key (``train.steps=200``). Unknown keys, unknown presets and values of the wrong type are
errors that list what would have been valid.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from replab.errors import ConfigError

PRESET_ROOT = Path(__file__).resolve().parent.parent / "presets"

T = TypeVar("T")


def list_presets(group: str) -> list[str]:
    """Names of the presets shipped for ``group`` (e.g. ``rae``)."""
    folder = PRESET_ROOT / group
    return sorted(p.stem for p in folder.glob("*.yaml"))


def preset_path(group: str, name: str) -> Path:
    """The YAML file of a preset: a shipped name or a path to a YAML file of the user's."""
    candidate = Path(name)
    if candidate.suffix in (".yaml", ".yml") and candidate.exists():
        return candidate
    path = PRESET_ROOT / group / f"{name}.yaml"
    if not path.exists():
        valid = ", ".join(list_presets(group)) or "(none)"
        raise ConfigError(f"unknown {group} preset '{name}'; valid presets: {valid} (or a path to a .yaml file)")
    return path


def load_config(cls: type[T], group: str, preset: str, overrides: list[str] | None = None) -> T:
    """Build ``cls`` from a preset, then apply ``key=value`` overrides."""
    path = preset_path(group, preset)
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a preset must be a YAML mapping, got {type(raw).__name__}")
    config = from_dict(cls, raw, where=str(path))
    return apply_overrides(config, overrides or [])


def from_dict(cls: type[T], data: dict[str, Any], where: str = "config") -> T:
    """Build a (nested) dataclass from a dict, rejecting unknown keys by name."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping for {cls.__name__}, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f"{where}:{name}")
    return cls(**kwargs)


def to_dict(config: Any) -> dict[str, Any]:
    """A config as plain YAML-able data."""
    return dataclasses.asdict(config)


def apply_overrides(config: T, overrides: list[str]) -> T:
    """Apply ``a.b=value`` strings; the value is parsed as YAML then coerced to the field type."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value")
        key, text = item.split("=", 1)
        config = _set(config, key.strip().split("."), yaml.safe_load(text), key)
    return config


def _set(node: Any, path: list[str], value: Any, full_key: str) -> Any:
    fields = {f.name for f in dataclasses.fields(node)}
    head = path[0]
    if head not in fields:
        prefix = full_key[: len(full_key) - len(".".join(path))]
        valid = ", ".join(prefix + f for f in sorted(fields))
        raise ConfigError(f"unknown config key '{full_key}'; valid keys here: {valid}")
    current = getattr(node, head)
    if len(path) > 1:
        if not dataclasses.is_dataclass(current):
            raise ConfigError(f"config key '{full_key}': '{head}' is a value, not a section")
        return dataclasses.replace(node, **{head: _set(current, path[1:], value, full_key)})
    hint = typing.get_type_hints(type(node))[head]
    return dataclasses.replace(node, **{head: _coerce(hint, value, full_key)})


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value or {}, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0])
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            if isinstance(value, str):
                value = [v for v in value.split(",") if v]
            else:
                value = [value]
        inner = args[0] if args else Any
        items = [_coerce(inner, v, where) for v in value]
        return tuple(items) if origin is tuple else items
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads "3e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    return value
