"""A Run: the one folder every train, sample and evaluate job writes to.

    runs/<name>/config.yaml        the full config the job ran with
    runs/<name>/metrics.jsonl      one JSON object per logged step (or event)
    runs/<name>/checkpoints/       step_XXXXXXXX/ folders (see core.checkpoint)
    runs/<name>/footprint.json     energy and carbon (replab.footprint)
    runs/<name>/artifacts/         images, tables, reports
    runs/<name>/events.out.tfevents.*  the same metrics and images for TensorBoard (core.board)

Resuming is rerunning the same command on the same folder. Before anything is written, ``check_out``
refuses: a folder that holds a run of another kind, or of another config in anything but the keys a job
declares safe to change (such as the number of steps), naming the keys that differ; a file; a folder of
other files; and a folder inside another run, except where runs made on a run belong (its ``evals/``,
``scores/`` and ``meta/``) and the sub-runs a job makes inside its own open Run (a trade-off's points).
A job that fails before it has produced anything leaves no trace: the folder it created is removed, or
the config of the run it resumed is put back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm.auto import tqdm

from replab.core import dist
from replab.core.board import Board
from replab.core.board import enabled as board_enabled
from replab.core.checkpoint import STATE_FILE, load_checkpoint, save_checkpoint
from replab.core.progress import progress_bar
from replab.errors import CheckpointError, ConfigError

_STEP_DIR = re.compile(r"^step_(\d{8})$")
ON_A_RUN = ("evals", "scores", "meta")  # where the runs made on a run (evaluations, scores) live inside it
_OPEN: set[Path] = set()  # the folders of the Runs open in this process: a job's sub-runs may lie inside them


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def run_kind(folder: str | Path) -> str | None:
    """The kind of the replab run in ``folder``, or None where it holds none."""
    return _run_kind(Path(folder))


def _run_kind(folder: Path) -> str | None:
    """The kind of the replab run in ``folder`` (its config.yaml beside checkpoints/ or artifacts/), else None."""
    path = folder / "config.yaml"
    if not path.is_file() or not ((folder / "checkpoints").is_dir() or (folder / "artifacts").is_dir()):
        return None
    try:
        saved = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, OSError, UnicodeDecodeError):
        return None
    return str(saved["kind"]) if isinstance(saved, dict) and "kind" in saved else None


def _enclosing_run(folder: Path) -> Path | None:
    for parent in folder.resolve().parents:
        if _run_kind(parent) is not None:
            return parent
    return None


def check_out(
    folder: str | Path,
    kind: str,
    config: dict[str, Any],
    mutable: Iterable[str] = (),
    defaults: dict[str, Any] | None = None,
    config_only: bool = False,
) -> None:
    """Refuse ``folder`` as the Run of a ``kind`` job with ``config`` (see the module's docstring), writing
    nothing. A Run calls it first; a job may call it earlier, before its slow setup. ``config_only``: compare
    with a saved config only (the folder's other checks are the main process's)."""
    folder = Path(folder)
    if config_only:
        if (folder / "config.yaml").is_file():
            _compare_config(folder, kind, config, mutable, defaults)
        return
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is a file, not a run folder; give a folder")
    if any(p.exists() and not p.is_dir() for p in folder.parents):
        raise ConfigError(f"{folder}: a part of this path is a file, so it cannot be a run folder")
    outer = _enclosing_run(folder)
    if outer is not None and outer not in _OPEN and folder.resolve().relative_to(outer).parts[0] not in ON_A_RUN:
        raise ConfigError(
            f"{folder} lies inside the run {outer} (a '{_run_kind(outer)}' run); give a folder outside it "
            f"(evaluations of that run go under {outer / 'evals'})"
        )
    if not (folder / "config.yaml").exists():
        if folder.is_dir() and any(folder.iterdir()):
            raise ConfigError(f"{folder} holds files but no replab run (no config.yaml); give a new or empty folder")
        return
    _compare_config(folder, kind, config, mutable, defaults)


def _compare_config(
    folder: Path, kind: str, config: dict[str, Any], mutable: Iterable[str], defaults: dict[str, Any] | None
) -> None:
    path = folder / "config.yaml"
    try:
        saved = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(saved, dict):
        raise ConfigError(f"{path}: not a replab run config (a mapping of settings)")
    if saved.get("kind") != kind:
        raise CheckpointError(
            f"{folder} holds a '{saved.get('kind')}' run, not a '{kind}' run (nothing was changed in it); "
            "give another --out folder"
        )
    record = json.loads(json.dumps({"kind": kind, **config}))
    old = {**_flatten(json.loads(json.dumps(defaults or {}))), **_flatten(saved)}
    new = _flatten(record)
    mutable = set(mutable)
    diffs = [
        f"{key}: {old.get(key, '(absent)')!r} in the run, {new.get(key, '(absent)')!r} now"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key) and not _is_mutable(key, mutable)
    ]
    if diffs:
        raise CheckpointError(
            f"{folder} holds a run with another config, so it cannot be resumed with this one "
            f"(nothing was changed in it): " + "; ".join(diffs) + ". Use another --out folder."
        )


class Run:
    """The folder of one job, with its config, metrics, checkpoints and footprint."""

    def __init__(
        self,
        folder: str | Path,
        config: dict[str, Any],
        kind: str,
        mutable: Iterable[str] = (),
        keep_checkpoints: int = 2,
        track_footprint: bool = True,
        defaults: dict[str, Any] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.kind = kind
        self.config = json.loads(json.dumps(config))  # plain lists and dicts, as YAML reads them back
        self.keep_checkpoints = keep_checkpoints
        self.is_main = dist.is_main()
        # ``defaults``: a setting added after a run was saved reads as its default there, so old runs resume
        # the other ranks of a torchrun job check only the saved config: the main rank may be creating the folder
        check_out(self.folder, kind, self.config, mutable, defaults, config_only=not self.is_main)
        self._started_ns = time.time_ns()
        self._created = _first_missing(self.folder)  # removed again if the job fails before producing anything
        config_path = self.folder / "config.yaml"
        self._saved_config = config_path.read_bytes() if config_path.exists() else None
        if self.is_main:
            self._write_config()
        _OPEN.add(self.folder.resolve())
        self.board = Board(self.folder, {"kind": kind, **self.config}) if self.is_main and board_enabled() else None
        self.tracker = None
        if track_footprint and self.is_main:
            from replab.footprint import Tracker

            self.tracker = Tracker.for_run(self.folder, kind=kind)

    # ---- config ---------------------------------------------------------------------------------
    # ``mutable`` names settings a rerun may change: a dotted key or a section (``guidance`` covers
    # ``guidance.cfg_scale``).
    def _write_config(self) -> None:
        path = self.folder / "config.yaml"
        (self.folder / "checkpoints").mkdir(parents=True, exist_ok=True)
        (self.folder / "artifacts").mkdir(exist_ok=True)
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(yaml.safe_dump({"kind": self.kind, **self.config}, sort_keys=False))
        os.replace(tmp, path)

    @staticmethod
    def read_config(folder: str | Path) -> dict[str, Any]:
        path = Path(folder) / "config.yaml"
        if not path.exists():
            raise ConfigError(f"{folder} is not a replab run: {path} is missing")
        return yaml.safe_load(path.read_text())

    # ---- metrics --------------------------------------------------------------------------------
    @property
    def artifacts(self) -> Path:
        return self.folder / "artifacts"

    def log(self, step: int | None = None, **values: Any) -> None:
        """Append one JSON line to metrics.jsonl (main process only)."""
        if not self.is_main:
            return
        row = {"step": step, "time": round(time.time(), 3), **values}
        with open(self.folder / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps(row, default=float) + "\n")
        if self.board is not None:
            self.board.log(step, values)

    def metrics(self) -> list[dict[str, Any]]:
        path = self.folder / "metrics.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    # ---- checkpoints ----------------------------------------------------------------------------
    def checkpoints(self) -> list[Path]:
        """Complete checkpoints, oldest first."""
        folder = self.folder / "checkpoints"
        if not folder.exists():
            return []
        found = [p for p in folder.iterdir() if _STEP_DIR.match(p.name) and (p / STATE_FILE).exists()]
        return sorted(found, key=lambda p: int(_STEP_DIR.match(p.name).group(1)))

    def latest_checkpoint(self) -> Path | None:
        found = self.checkpoints()
        return found[-1] if found else None

    def save(
        self,
        step: int,
        modules: dict[str, torch.nn.Module],
        optimizers: dict[str, torch.optim.Optimizer] | None = None,
        generators: dict[str, torch.Generator] | None = None,
        state: dict[str, Any] | None = None,
    ) -> None:
        if not self.is_main:
            return
        save_checkpoint(
            self.folder / "checkpoints" / f"step_{step:08d}",
            modules,
            optimizers,
            generators,
            {"step": step, **(state or {})},
        )
        for old in self.checkpoints()[: -self.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)

    def resume(
        self,
        modules: dict[str, torch.nn.Module],
        optimizers: dict[str, torch.optim.Optimizer] | None = None,
        generators: dict[str, torch.Generator] | None = None,
    ) -> dict[str, Any] | None:
        """Load the newest complete checkpoint if there is one; returns its state or None."""
        latest = self.latest_checkpoint()
        if latest is None:
            return None
        state = load_checkpoint(latest, modules, optimizers, generators)
        if self.board is not None:
            self.board.resume_from(int(state["step"]))
        self.log(state["step"], event="resume", checkpoint=latest.name)
        return state

    # ---- progress and footprint ----------------------------------------------------------------
    def progress(self, total: int, initial: int = 0, unit: str = "step", desc: str | None = None) -> tqdm:
        return progress_bar(total, desc or self.kind, unit, initial)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Account the energy of a block of work to a named phase (train, sample, eval)."""
        if self.tracker is None:
            yield
            return
        with self.tracker.phase(name):
            yield

    def add_units(self, unit: str, count: float) -> None:
        """Count units of work (steps, images, tokens, items) for per-unit footprint figures."""
        if self.tracker is not None:
            self.tracker.add_units(unit, count)

    def close(self) -> None:
        """Flush and close the event files and the footprint; the folder is complete when this returns."""
        _OPEN.discard(self.folder.resolve())
        if self.board is not None:
            self.board.close(self.artifacts)
            self.board = None
        if self.tracker is not None:
            self.tracker.close()
            self.tracker = None

    def produced_anything(self) -> bool:
        """Whether this session wrote a file other than the config (metrics, checkpoints, artifacts)."""
        if not self.folder.exists():
            return False
        for path in self.folder.rglob("*"):
            if path.name != "config.yaml" and path.is_file() and path.stat().st_ctime_ns >= self._started_ns:
                return True
        return False

    def abandon(self) -> None:
        """Undo this session's traces, which are only its config and empty folders (``produced_anything`` is
        False): remove the folders it created, or put back the config of the run it was resuming."""
        _OPEN.discard(self.folder.resolve())
        if self.board is not None:
            self.board.discard()
            self.board = None
        if self.tracker is not None:
            self.tracker.discard()
            self.tracker = None
        if not self.is_main:
            return
        if self._created is not None:
            shutil.rmtree(self._created, ignore_errors=True)
            return
        if self._saved_config is not None:
            tmp = self.folder / "config.yaml.tmp"
            tmp.write_bytes(self._saved_config)
            os.replace(tmp, self.folder / "config.yaml")
            return
        (self.folder / "config.yaml").unlink(missing_ok=True)  # an empty folder given as --out: empty again
        for sub in ("checkpoints", "artifacts"):
            if (self.folder / sub).is_dir() and not any((self.folder / sub).iterdir()):
                (self.folder / sub).rmdir()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None and not self.produced_anything():
            self.abandon()
        else:
            self.close()


def _first_missing(folder: Path) -> Path | None:
    """The outermost folder of ``folder``'s path that does not exist yet (what creating it creates), or None."""
    missing = None
    for path in (folder, *folder.parents):
        if path.exists():
            break
        missing = path
    return missing


def _is_mutable(key: str, mutable: set[str]) -> bool:
    parts = key.split(".")
    return any(".".join(parts[:i]) in mutable for i in range(1, len(parts) + 1))
