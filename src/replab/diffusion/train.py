"""``replab diffusion train``: flow matching in RAE latent space, nanoGPT-short.

Gradient accumulation zeroes gradients once per optimizer step (not per micro-step); under
``torchrun`` every rank draws times, noise and label dropout for the *global* batch and keeps its
slice, so data-parallel training equals one process with the whole batch.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import torch

from replab.core import dist
from replab.core.config import to_dict
from replab.core.data import BatchOrder, read_index_list
from replab.core.image_files import SkipLog
from replab.core.loop import TrainLoop
from replab.core.run import Run, check_out
from replab.core.train import RESUMABLE_KEYS, adamw, autocast, start_training
from replab.diffusion.config import DiffusionConfig, build_model, resolve_switches
from replab.diffusion.latents import MemoryLatents, open_latent_source
from replab.diffusion.models import DiT
from replab.diffusion.transport import Transport
from replab.errors import ConfigError


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1 - decay)


def train_diffusion(config: DiffusionConfig, out: str | Path) -> Path:
    tc = config.train
    config = _checked(config)
    defaults = DiffusionConfig()
    defaults.model = resolve_switches(defaults.model)
    mutable = (*RESUMABLE_KEYS, "sample", "latents", "latents_cache", "model.grad_checkpoint")
    check_out(out, "diffusion", to_dict(config), mutable, to_dict(defaults))  # before latents are encoded or cached
    device = start_training(tc)
    dist.init_from_env()
    rank, world = dist.rank(), dist.world_size()
    source = _latent_source(config, device)
    keep = read_index_list(config.subset, len(source)) if config.subset else None
    torch.manual_seed(tc.seed)  # the init must not depend on whether opening the latents drew random numbers
    model = build_model(config, source.shape, source.num_classes).to(device)
    model.grad_checkpoint = config.model.grad_checkpoint
    ema = copy.deepcopy(model).requires_grad_(False)  # fp32, like the master weights: autocast only casts activations
    transport = Transport(config.transport, source.shape)
    optimizer = adamw(model.parameters(), tc)
    draws = torch.Generator().manual_seed(tc.seed + 1)  # identical on every rank
    trained = _wrapped(model, tc.compile, world, device)
    micro = tc.batch_size // tc.grad_accum  # global micro-batch
    share = micro // world
    order = BatchOrder(len(keep) if keep is not None else len(source), micro, tc.seed)
    with Run(out, to_dict(config), kind="diffusion", mutable=mutable, defaults=to_dict(defaults)) as run:
        loop = TrainLoop(
            run, tc, {"model": model, "ema": ema}, {"model": optimizer}, {"draws": draws},
            units={"images": tc.batch_size}, desc="diffusion train",
            position=lambda done: {"samples_seen": done * tc.batch_size},
        )  # fmt: skip
        batches = source.batches(rank_indices(order, keep, loop.start, tc.steps, tc.grad_accum, rank, world), device)
        skips = SkipLog(run.folder if dist.is_main() else None)
        for step in loop:
            optimizer.zero_grad(set_to_none=True)
            total = 0.0
            # drawn once for the global batch: accumulation and DDP only change how it is sliced
            t_all = transport.sample_t(tc.batch_size, draws)
            noise_all = torch.randn((tc.batch_size, *source.shape), generator=draws)
            drop_all = torch.rand(tc.batch_size, generator=draws) < config.model.label_dropout
            for k in range(tc.grad_accum):
                batch = next(batches)
                skips.add(batch.skipped)
                mine = slice(k * micro + rank * share, k * micro + (rank + 1) * share)
                kept = batch.kept
                y, drop = (batch.y, drop_all[mine].to(device)[kept]) if model.y_embed is not None else (None, None)
                sync = k == tc.grad_accum - 1 or world == 1
                with nullcontext() if sync else trained.no_sync(), autocast(device, tc.bf16):
                    loss = transport.loss(trained, batch.x, y, t_all[mine].to(device)[kept],
                                          noise_all[mine].to(device)[kept], drop_labels=drop)  # fmt: skip
                    (loss / tc.grad_accum).backward()
                total += loss.item() / tc.grad_accum
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip or float("inf"))
            optimizer.step()
            update_ema(ema, model, min(tc.ema_decay, (1 + step) / (10 + step)) if tc.ema_warmup else tc.ema_decay)
            extra = {"epoch": order.epoch_of(step + 1)}
            if loop.is_log_step(step) and not isinstance(source, MemoryLatents):
                extra["skipped_files"] = skips.take()
            loop.end_step(step, loss=total, grad_norm=grad_norm, extra=extra)
    return run.folder


def _checked(config: DiffusionConfig) -> DiffusionConfig:
    tc = config.train
    if not config.rae:
        raise ConfigError("rae: give the RAE run to train in (--rae runs/rae)")
    if tc.batch_size % (tc.grad_accum * max(1, dist.world_size())):
        raise ConfigError(f"train.batch_size={tc.batch_size} must divide into grad_accum × processes")
    config.sample.validate()
    return dataclasses.replace(config, model=resolve_switches(config.model))


def _wrapped(model: DiT, compile_model: bool, world: int, device: torch.device) -> torch.nn.Module:
    """What the loop calls: the model, compiled if asked (optional, never required), in DDP under torchrun."""
    trained = torch.compile(model) if compile_model else model
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        trained = torch.nn.parallel.DistributedDataParallel(trained, device_ids=ids)
    return trained


def rank_indices(
    order: BatchOrder, keep: torch.Tensor | None, start: int, steps: int, accum: int, rank: int, world: int
) -> Iterator[torch.Tensor]:
    """This rank's share of every micro-batch from step ``start`` on (through ``keep``, a subset, if given)."""
    share = order.batch_size // world
    for step in range(start, steps):
        for k in range(accum):
            index = order.indices(step * accum + k)[rank * share : (rank + 1) * share]
            yield keep[index] if keep is not None else index


def _latent_source(config: DiffusionConfig, device: torch.device):
    """The RAE run's training latents; in memory mode encoded once by the main process, then read by every rank."""

    def open_source():
        return open_latent_source(config.rae, config.latents, device, cache=config.latents_cache,
                                  limit=config.train_images, bf16=config.train.bf16)  # fmt: skip

    source = open_source() if dist.is_main() else None
    dist.barrier()
    return open_source() if source is None else source
