"""``replab diffusion train``: flow matching in RAE latent space, nanoGPT-short.

Gradient accumulation zeroes gradients once per optimizer step (not per micro-step); under
``torchrun`` every rank draws times, noise and label dropout for the *global* batch and keeps its
slice, so data-parallel training equals one process with the whole batch.
"""

from __future__ import annotations

import copy
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import torch

from replab.core import dist
from replab.core.config import to_dict
from replab.core.data import BatchOrder
from replab.core.loop import TrainLoop
from replab.core.run import Run
from replab.core.train import RESUMABLE_KEYS, TrainConfig, adamw, autocast, start_training
from replab.diffusion.latents import load_or_encode
from replab.diffusion.models import BlockStyle, DiT, build_dit
from replab.diffusion.samplers import GuidanceConfig
from replab.diffusion.transport import Transport, TransportConfig
from replab.errors import ConfigError


@dataclass
class DiffusionModelConfig:
    name: str = "DiT-DH-S"
    class_conditional: bool = True
    label_dropout: float = 0.1
    # DiT's 0.02 suits ImageNet-length runs; in a few thousand steps the table barely moves from it and the
    # class signal stays ~25x weaker than the timestep embedding it is added to (measured), so short presets
    # start it at the timestep embedding's scale.
    label_init_std: float = 0.02
    # RMSNorm on queries and keys. The RAE/LightningDiT ImageNet configs leave it off (their presets say
    # so); on here by default so that runs saved before this switch existed load unchanged.
    qk_norm: bool = True
    rope: bool = True  # 2D rotary position embedding on queries and keys
    swiglu: bool = True  # SwiGLU feed-forward; false: DiT's GELU MLP
    rms_norm: bool = True  # false: LayerNorm (all four false: the original DiT block)


@dataclass
class DiffusionTrainConfig(TrainConfig):
    grad_accum: int = 1  # micro-steps per optimizer step; batch_size is the global batch
    ema_decay: float = 0.9995
    ema_warmup: bool = True  # decay min(ema_decay, (1 + step) / (10 + step)): short runs' EMA forgets the init


@dataclass
class DiffusionConfig:
    rae: str = ""  # the RAE run whose latents the model learns
    train_images: int = 0  # learn only the first N training images (0 = all; a demo-sized run needs fewer)
    model: DiffusionModelConfig = field(default_factory=DiffusionModelConfig)
    transport: TransportConfig = field(default_factory=TransportConfig)
    train: DiffusionTrainConfig = field(default_factory=DiffusionTrainConfig)
    sample: GuidanceConfig = field(default_factory=GuidanceConfig)  # how the run is meant to be sampled


def build_model(config: DiffusionConfig, latent_shape: tuple[int, int, int], num_classes: int) -> DiT:
    channels, grid, _ = latent_shape
    classes = num_classes if config.model.class_conditional else 0
    m = config.model
    style = BlockStyle(qk_norm=m.qk_norm, rope=m.rope, swiglu=m.swiglu, rms_norm=m.rms_norm)
    return build_dit(m.name, channels, grid, classes, m.label_init_std, style)


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1 - decay)


def train_diffusion(config: DiffusionConfig, out: str | Path) -> Path:
    tc = config.train
    if not config.rae:
        raise ConfigError("rae: give the RAE run to train in (--rae runs/rae)")
    if tc.batch_size % (tc.grad_accum * max(1, dist.world_size())):
        raise ConfigError(f"train.batch_size={tc.batch_size} must divide into grad_accum × processes")
    config.sample.validate()
    device = start_training(tc)
    dist.init_from_env()
    rank, world = dist.rank(), dist.world_size()
    latents, labels = _load_latents(config)
    num_classes = int(labels.max()) + 1
    model = build_model(config, tuple(latents.shape[1:]), num_classes).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    transport = Transport(config.transport, tuple(latents.shape[1:]))
    optimizer = adamw(model.parameters(), tc)
    draws = torch.Generator().manual_seed(tc.seed + 1)  # identical on every rank
    trained = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    micro = tc.batch_size // tc.grad_accum  # global micro-batch
    share = micro // world
    order = BatchOrder(len(latents), micro, tc.seed)
    mutable = (*RESUMABLE_KEYS, "sample")
    with Run(out, to_dict(config), kind="diffusion", mutable=mutable, defaults=to_dict(DiffusionConfig())) as run:
        loop = TrainLoop(
            run, tc, {"model": model, "ema": ema}, {"model": optimizer}, {"draws": draws},
            units={"images": tc.batch_size}, desc="diffusion train",
            position=lambda done: {"samples_seen": done * tc.batch_size},
        )  # fmt: skip
        for step in loop:
            optimizer.zero_grad(set_to_none=True)
            total = 0.0
            # drawn once for the global batch: accumulation and DDP only change how it is sliced
            t_all = transport.sample_t(tc.batch_size, draws)
            noise_all = torch.randn((tc.batch_size, *latents.shape[1:]), generator=draws)
            drop_all = torch.rand(tc.batch_size, generator=draws) < config.model.label_dropout
            for k in range(tc.grad_accum):
                index = order.indices(step * tc.grad_accum + k)[rank * share : (rank + 1) * share]
                mine = slice(k * micro + rank * share, k * micro + (rank + 1) * share)
                x, y = latents[index].to(device), None
                if model.y_embed is not None:
                    y = labels[index].to(device)
                    y = torch.where(drop_all[mine].to(device), torch.full_like(y, num_classes), y)
                sync = k == tc.grad_accum - 1 or world == 1
                with nullcontext() if sync else trained.no_sync(), autocast(device, tc.bf16):
                    loss = transport.loss(trained, x, y, t_all[mine].to(device), noise_all[mine].to(device))
                    (loss / tc.grad_accum).backward()
                total += loss.item() / tc.grad_accum
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip or float("inf"))
            optimizer.step()
            update_ema(ema, model, min(tc.ema_decay, (1 + step) / (10 + step)) if tc.ema_warmup else tc.ema_decay)
            loop.end_step(step, loss=total, grad_norm=grad_norm, extra={"epoch": order.epoch_of(step + 1)})
    return run.folder


def _load_latents(config: DiffusionConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The RAE run's training latents: encoded once by the main process, then read by every rank."""
    latents, labels = load_or_encode(config.rae, "train", limit=config.train_images) if dist.is_main() else (None, None)
    dist.barrier()
    if latents is None:
        latents, labels = load_or_encode(config.rae, "train", limit=config.train_images)
    return latents, labels
