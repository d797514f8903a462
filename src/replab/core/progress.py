"""The progress bar every long loop shows (training, sampling, evaluation, encoding, judging): tqdm with
its rate and ETA, on the main process only, off when ``REPLAB_NO_PROGRESS=1``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TypeVar

from tqdm.auto import tqdm

from replab.core import dist

T = TypeVar("T")


def progress_bar(total: float | None, desc: str, unit: str = "it", initial: float = 0) -> tqdm:
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        dynamic_ncols=True,
        mininterval=1.0,
        disable=not dist.is_main() or os.environ.get("REPLAB_NO_PROGRESS") == "1",
    )


def track(iterable: Iterable[T], desc: str, unit: str = "it", total: int | None = None) -> Iterable[T]:
    """``iterable`` with a progress bar (the same bar as ``progress_bar``)."""
    bar = progress_bar(total if total is not None else len(iterable), desc, unit)  # type: ignore[arg-type]
    try:
        for value in iterable:
            yield value
            bar.update(1)
    finally:
        bar.close()
