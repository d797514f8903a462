"""Forward passes at the machine's speed: sampling's fast path.

``fast_forward`` turns on what training already uses where the hardware has it: oneDNN's GEMMs for the
linears, and bf16 autocast on CPUs with bf16 units (``avx512_bf16`` / ``amx_bf16``) and on GPUs that
support it. Outside it every forward pass keeps PyTorch's default fp32 numerics, which the parity
checks against official code rely on (``exact`` sampling).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from replab.core.layers import onednn_inference
from replab.core.train import autocast


@contextlib.contextmanager
def fast_forward(device: torch.device | str, enabled: bool = True, bf16: bool = True) -> Iterator[None]:
    """oneDNN linears and (``bf16``, where supported) bf16 autocast inside; nothing changes when not ``enabled``."""
    if not enabled:
        yield
        return
    with onednn_inference(), autocast(torch.device(device), bf16):
        yield
