"""The progress bar every long loop shows (training, sampling, evaluation, encoding, judging): tqdm with
its rate and ETA, on the main process only, off when ``REPLAB_NO_PROGRESS=1``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TypeVar

from tqdm.auto import tqdm

from replab.core import dist

T = TypeVar("T")


FRACTIONAL = "{l_bar}{bar}| {n:.0f}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]"  # for fractional updates


def progress_bar(total: float | None, desc: str, unit: str = "it", initial: float = 0,
                 bar_format: str | None = None) -> tqdm:  # fmt: skip
    return tqdm(
        bar_format=bar_format,
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
