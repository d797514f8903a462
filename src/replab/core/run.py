"""A Run: the one folder every train, sample and evaluate job writes to.

    runs/<name>/config.yaml        the full config the job ran with
    runs/<name>/metrics.jsonl      one JSON object per logged step (or event)
    runs/<name>/checkpoints/       step_XXXXXXXX/ folders (see core.checkpoint)
    runs/<name>/footprint.json     energy and carbon (replab.footprint)
    runs/<name>/artifacts/         images, tables, reports
    runs/<name>/events.out.tfevents.*  the same metrics and images for TensorBoard (core.board)

Resuming is rerunning the same command on the same folder: the Run refuses a config that differs
in anything but the keys a job declares safe to change (such as the number of steps), and says
which keys differ, before anything in the folder is touched.
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


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


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
        # a setting added after a run was saved reads as its default there, so old runs still resume
        self._defaults = _flatten(json.loads(json.dumps(defaults or {})))
        self.kind = kind
        self.config = json.loads(json.dumps(config))  # plain lists and dicts, as YAML reads them back
        self.keep_checkpoints = keep_checkpoints
        self.is_main = dist.is_main()
        self._check_or_write_config(set(mutable))
        self.board = Board(self.folder, {"kind": kind, **self.config}) if self.is_main and board_enabled() else None
        self.tracker = None
        if track_footprint and self.is_main:
            from replab.footprint import Tracker

            self.tracker = Tracker.for_run(self.folder, kind=kind)

    # ---- config ---------------------------------------------------------------------------------
    # ``mutable`` names settings a rerun may change: a dotted key, a section (``guidance`` covers
    # ``guidance.cfg_scale``) or ``*`` for one-shot runs such as evaluations, where any setting may.
    def _check_or_write_config(self, mutable: set[str]) -> None:
        path = self.folder / "config.yaml"
        record = {"kind": self.kind, **self.config}
        if path.exists():
            try:
                saved = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as exc:
                raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
            old, new = {**self._defaults, **_flatten(saved)}, _flatten(record)
            diffs = [
                f"{key}: {old.get(key, '(absent)')!r} in the run, {new.get(key, '(absent)')!r} now"
                for key in sorted(set(old) | set(new))
                if old.get(key) != new.get(key) and not _is_mutable(key, mutable)
            ]
            if diffs:
                raise CheckpointError(
                    f"{self.folder} holds a run with another config, so it cannot be resumed with this one "
                    f"(nothing was changed in it): " + "; ".join(diffs) + ". Use another --out folder."
                )
        if self.is_main:
            (self.folder / "checkpoints").mkdir(parents=True, exist_ok=True)
            (self.folder / "artifacts").mkdir(exist_ok=True)
            tmp = path.with_suffix(".yaml.tmp")
            tmp.write_text(yaml.safe_dump(record, sort_keys=False))
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
        if self.board is not None:
            self.board.close(self.artifacts)
            self.board = None
        if self.tracker is not None:
            self.tracker.close()
            self.tracker = None

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _is_mutable(key: str, mutable: set[str]) -> bool:
    parts = key.split(".")
    return "*" in mutable or any(".".join(parts[:i]) in mutable for i in range(1, len(parts) + 1))
