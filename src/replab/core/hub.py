"""Where a model named on the command line comes from: a local folder, or a hub id, said in one line when it
is neither (or when the hub is offline and the id is not cached), before transformers is asked."""

from __future__ import annotations

import os
import re
from pathlib import Path

from replab.errors import ConfigError

_HUB_ID = re.compile(r"^(?![.-])[\w.-]{1,96}(/(?![.-])[\w.-]{1,96})?$")


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def resolve_model(name: str, what: str = "model", needs: str = "config.json") -> str:
    """``name`` as a local folder holding ``needs``, or a hub id (cached, or fetchable when the hub is online).

    Raises one ``ConfigError`` line otherwise: a path that does not exist, a folder without the model's file,
    a name that is no hub id, an id that is not cached while ``HF_HUB_OFFLINE`` is set."""
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / needs).exists():
            raise ConfigError(f"{what} {name}: the folder holds no {needs}, so it is not a model folder")
        return str(path)
    if path.exists():
        raise ConfigError(f"{what} {name}: a file, not a model folder or hub id")
    if name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1 or not _HUB_ID.match(name):
        raise ConfigError(f"{what} {name}: no such folder (and not a hub id such as 'org/name')")
    if hub_offline() and not _cached(name, needs):
        raise ConfigError(f"{what} {name}: not found locally, and the hub is offline (HF_HUB_OFFLINE=1)")
    return name


def _cached(repo_id: str, filename: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    found = try_to_load_from_cache(repo_id, filename)
    return isinstance(found, str)
