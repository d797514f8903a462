"""TensorBoard event files beside a Run's ``metrics.jsonl``: every numeric metric as a scalar at the run's
step, the run's images (sample grids, reconstructions, charts in ``artifacts/``) at the step they belong
to, and the resolved config as text. Written through the ``tensorboard`` package's writer (PyTorch's
``SummaryWriter``), on whenever the package is installed (the ``tensorboard`` extra); ``REPLAB_TENSORBOARD=0``
turns it off. A resumed run appends: the writer purges events at or after the step it resumes from, so a
step logged before a crash and again after it is shown once. ``tensorboard --logdir runs`` shows them."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import Any

import yaml

SWITCH = "REPLAB_TENSORBOARD"
_STEP_IN_NAME = re.compile(r"[_-]?step(\d+)$")


def enabled() -> bool:
    if os.environ.get(SWITCH, "1").strip().lower() in ("0", "false", "off", "no"):
        return False
    return importlib.util.find_spec("tensorboard") is not None


def _scalars(values: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_scalars(value, f"{prefix}{key}/"))
        elif isinstance(value, int | float) and not isinstance(value, bool) and value == value:  # not NaN
            out[f"{prefix}{key}"] = float(value)
    return out


def _pictures(folder: Path) -> dict[Path, tuple[int, int]]:
    if not folder.exists():
        return {}
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*.png")}


class Board:
    """The TensorBoard side of one Run folder; nothing is written until the first metric or image."""

    def __init__(self, folder: str | Path, config: dict[str, Any]) -> None:
        self.folder, self.config = Path(folder), config
        self._seen = _pictures(self.folder / "artifacts")  # images of earlier sessions are already in the events
        self.last_step = 0
        self._purge: int | None = None
        self._writer = None

    def resume_from(self, step: int) -> None:
        """Events of an earlier session at or after ``step + 1`` are superseded by this session's."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._purge = step + 1

    def writer(self):
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.folder), purge_step=self._purge)
            if self._purge is None:
                text = "```\n" + yaml.safe_dump(self.config, sort_keys=False) + "```"
                self._writer.add_text("config", text, 0)
        return self._writer

    def log(self, step: int | None, values: dict[str, Any]) -> None:
        scalars = _scalars(values)
        if not scalars:
            return
        step = self.last_step if step is None else int(step)
        self.last_step = max(self.last_step, step)
        writer = self.writer()
        for tag, value in scalars.items():
            writer.add_scalar(tag, value, step)
        writer.flush()  # the event file is complete when the Run's log() returns, as metrics.jsonl is

    def image(self, tag: str, path: str | Path, step: int | None = None) -> None:
        import numpy as np
        from PIL import Image

        with Image.open(path) as picture:
            pixels = np.asarray(picture.convert("RGB"))
        self.writer().add_image(tag, pixels, self.last_step if step is None else step, dataformats="HWC")

    def discard(self) -> None:
        """Close without adding this session's images (the job failed before it produced anything)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self, artifacts: Path) -> None:
        """Add the PNGs this session wrote under ``artifacts`` (a step in the name, ``…_step1200.png``, is
        their step; else the last step logged), then flush."""
        for path, stamp in sorted(_pictures(artifacts).items()):
            if self._seen.get(path) != stamp:
                tag = path.relative_to(artifacts).with_suffix("").as_posix()
                match = _STEP_IN_NAME.search(tag)
                if match:  # one image tag over steps: samples_step1200 → samples at step 1200
                    tag = tag[: match.start()] or tag
                self.image(tag, path, int(match.group(1)) if match else None)
        if self._writer is not None:
            self._writer.close()
            self._writer = None
