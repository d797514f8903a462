"""Forward passes at the machine's speed: sampling's fast path.

``fast_forward`` turns on what training already uses where the hardware has it: oneDNN's GEMMs for the
linears, and bf16 autocast on CPUs with bf16 units (``avx512_bf16`` / ``amx_bf16``) and on GPUs that
support it. Outside it every forward pass keeps PyTorch's default fp32 numerics, which the parity
checks against official code rely on (``exact`` sampling).

``in_parallel`` runs independent parts of a job (the sampler's batch parts) side by side on the CPU, one
intra-op thread each: small models' ops are too short for two OpenMP threads to share them well (with
``OMP_WAIT_POLICY=PASSIVE`` every op wakes a sleeping worker), while whole parts split cleanly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

from replab.core.layers import onednn_inference
from replab.core.train import autocast

T = TypeVar("T")


@contextlib.contextmanager
def fast_forward(device: torch.device | str, enabled: bool = True, bf16: bool = True) -> Iterator[None]:
    """oneDNN linears and (``bf16``, where supported) bf16 autocast inside; nothing changes when not ``enabled``."""
    if not enabled:
        yield
        return
    with onednn_inference(), autocast(torch.device(device), bf16):
        yield


def in_parallel(parts: Sequence[Callable[[], T]], device: torch.device | str) -> list[T]:
    """``[part() for part in parts]``; on the CPU with several intra-op threads, up to that many parts run at
    once in threads of one intra-op thread each (the count is restored after). Grad mode and CPU autocast are
    carried into the threads; other thread-local state (inference mode, ``fast_forward``) is each part's own."""
    threads = torch.get_num_threads()
    if torch.device(device).type != "cpu" or threads < 2 or len(parts) < 2:
        return [part() for part in parts]
    grad, cast = torch.is_grad_enabled(), torch.is_autocast_enabled("cpu")
    cast_dtype = torch.get_autocast_dtype("cpu")

    def run(part: Callable[[], T]) -> T:
        with torch.set_grad_enabled(grad), torch.autocast("cpu", dtype=cast_dtype, enabled=cast):
            return part()

    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=min(threads, len(parts))) as pool:
            return list(pool.map(run, parts))
    finally:
        torch.set_num_threads(threads)
