"""What every training loop shares: the optimisation config, the learning-rate schedule, autocast."""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass

import torch


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    warmup_steps: int = 100
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0  # 0 disables clipping
    seed: int = 0
    bf16: bool = True  # autocast to bfloat16 where the device supports it
    ckpt_every: int = 200
    log_every: int = 20
    threads: int | None = None  # torch intra-op threads; None = torch's default
    compile: bool = False  # torch.compile the model (optional: every path runs without it)


# keys a resumed run may change without invalidating its checkpoints
RESUMABLE_KEYS = ("train.steps", "train.ckpt_every", "train.log_every", "train.threads", "train.compile")


def lr_at(step: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to ``lr * min_lr_ratio`` at ``steps``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps))
    floor = config.lr * config.min_lr_ratio
    return floor + 0.5 * (config.lr - floor) * (1 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return torch.backends.mkldnn.is_available() and _cpu_has_bf16()
    return False


def _cpu_has_bf16() -> bool:
    """bf16 units on the CPU, and PyTorch allowed to use them: with ATen's kernels held to AVX2
    (``ATEN_CPU_CAPABILITY=avx2``, or a CPU without AVX-512) bf16 matmuls fall back to slow emulation."""
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    allowed = torch.backends.cpu.get_cpu_capability() not in ("DEFAULT", "AVX2")
    return allowed and any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast when asked for and supported; otherwise a no-op."""
    if enabled and bf16_supported(device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def setup_threads(threads: int | None) -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if threads:
        torch.set_num_threads(threads)


def default_device() -> torch.device:
    """This process's GPU (``LOCAL_RANK`` under torchrun), else the CPU."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))


def start_training(config: TrainConfig) -> torch.device:
    """Threads, the global seed and the device: the first lines of every trainer. On GPUs fp32 matmuls
    and convolutions use TF32 (bf16 autocast covers the rest when ``bf16``)."""
    setup_threads(config.threads)
    torch.manual_seed(config.seed)
    device = default_device()
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return device


def adamw(params, config: TrainConfig, **overrides) -> torch.optim.AdamW:
    """AdamW with the config's lr, betas and weight decay; the fused kernel wherever torch has one for
    the device (on CPU it is several times faster than the per-tensor loop)."""
    options = {"lr": config.lr, "betas": config.betas, "weight_decay": config.weight_decay, **overrides}
    params = list(params)
    device = params[0]["params"][0].device if params and isinstance(params[0], dict) else params[0].device
    if device.type in ("cpu", "cuda"):
        options.setdefault("fused", True)
    return torch.optim.AdamW(params, **options)
