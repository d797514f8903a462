"""Where replab writes: never into its own installed package.

Caches (latents, converted models) of a run that lies inside the package — the runs shipped under
``assets/`` — go under ``$REPLAB_CACHE`` (default ``~/.cache/replab``), whatever the folder's permissions;
outputs of a job on such a run default to ``./runs/<run>-<job>``; a user's own runs keep theirs beside them.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # the replab package folder, installed or in a checkout


def cache_root() -> Path:
    return Path(os.environ.get("REPLAB_CACHE") or Path.home() / ".cache" / "replab")


def inside_package(path: str | Path) -> bool:
    resolved = Path(path).resolve()
    return resolved == PACKAGE or PACKAGE in resolved.parents


def run_cache(run: str | Path, what: str) -> Path:
    """``<run>/<what>`` for a run of the user's that can be written; ``$REPLAB_CACHE/<what>/<hash of the
    run's path>`` for one inside the package or read-only."""
    folder = Path(run).resolve()
    if not inside_package(folder) and ((folder / what).exists() or os.access(folder, os.W_OK)):
        return folder / what
    return cache_root() / what / hashlib.sha1(str(folder).encode()).hexdigest()[:16]


def job_output(run: str | Path, job: str) -> Path:
    """The default output folder of ``job`` on ``run``: ``<run>/evals/<job>``, or ``./runs/<run>-<job>``
    when the run lies inside the package."""
    if inside_package(run):
        return Path("runs") / f"{Path(run).resolve().name}-{job}"
    return Path(run) / "evals" / job


def _check_place(path: Path, flag: str) -> None:
    from replab.errors import ConfigError

    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise ConfigError(f"{flag} {path}: {blocker} is a file, so no folder can be made there")
    if inside_package(path):
        raise ConfigError(f"{flag} {path}: inside the installed replab package; write outputs to your own folders")


def check_file_out(path: str | Path, flag: str = "--out", suffixes: tuple[str, ...] = ()) -> Path:
    """``path`` as a file a job may write (a report, a grid, a table), checked before the job starts: not a
    folder, no file in the way of its folder, not inside the package, and (with ``suffixes``) of a known kind."""
    from replab.errors import ConfigError

    path = Path(path)
    if path.is_dir():
        raise ConfigError(
            f"{flag} {path}: a folder; give a file path (e.g. {path / ('out' + (suffixes or ('.json',))[0])})"
        )
    _check_place(path, flag)
    if suffixes and path.suffix.lower() not in suffixes:
        raise ConfigError(f"{flag} {path}: expected a {' or '.join(suffixes)} file")
    return path


def check_folder_out(path: str | Path, flag: str = "--out") -> Path:
    """``path`` as a folder a job may fill with several outputs (a report and its runs): not a file, no file in
    the way, not inside the package."""
    from replab.errors import ConfigError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path}: a file, not a folder")
    _check_place(path, flag)
    return path


def beside_run(path: str | Path, run_folder: str | Path) -> Path:
    """A path a run's config names: taken from the working directory when it is absolute or exists there, else
    from the run's folder (shipped runs name their RAE as a sibling folder)."""
    path = Path(path)
    if path.is_absolute() or path.exists():
        return path
    return Path(run_folder) / path
