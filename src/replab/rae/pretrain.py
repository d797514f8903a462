"""``replab rae pretrain-encoder``: pre-train the local-vit encoder (MAE + a light class term)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from replab.core.config import to_dict
from replab.core.data import BatchOrder, DataConfig, load_images
from replab.core.run import Run
from replab.core.train import (
    RESUMABLE_KEYS,
    TrainConfig,
    autocast,
    default_device,
    lr_at,
    set_lr,
    setup_threads,
)
from replab.rae.encoders import save_local_vit
from replab.rae.local_vit import LocalViTConfig, MAEPretrainer


@dataclass
class EncoderPretrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: LocalViTConfig = field(default_factory=LocalViTConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def pretrain_encoder(config: EncoderPretrainConfig, out: str | Path) -> Path:
    """Train, then export the encoder to ``<out>/encoder`` (bf16 safetensors + config.json)."""
    tc = config.train
    setup_threads(tc.threads)
    torch.manual_seed(tc.seed)
    device = default_device()
    data = load_images(config.data, "train")
    model = MAEPretrainer(config.model).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=tc.lr, betas=tc.betas, weight_decay=tc.weight_decay)
    masks = torch.Generator().manual_seed(tc.seed + 1)
    with Run(out, to_dict(config), kind="rae-pretrain-encoder", mutable=RESUMABLE_KEYS) as run:
        state = run.resume({"model": model}, {"model": optimizer}, {"masks": masks})
        start = state["step"] if state else 0
        order = BatchOrder(len(data), tc.batch_size, tc.seed)
        bar = run.progress(tc.steps, start, desc="pretrain-encoder")
        tick = time.perf_counter()
        with run.phase("train"):
            for step in range(start, tc.steps):
                set_lr(optimizer, lr_at(step, tc))
                index = order.indices(step)
                images, labels = data.float(index).to(device), data.labels[index].to(device)
                with autocast(device, tc.bf16):
                    loss, stats = model(images, labels, masks)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if tc.grad_clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
                optimizer.step()
                run.add_units("steps", 1)
                run.add_units("images", len(index))
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.4f}", acc=f"{stats['acc']:.2f}")
                if (step + 1) % tc.log_every == 0:
                    elapsed, tick = time.perf_counter() - tick, time.perf_counter()
                    rate = tc.log_every * tc.batch_size / elapsed
                    run.log(step + 1, loss=loss.item(), lr=lr_at(step, tc), images_per_s=rate, **stats)
                if (step + 1) % tc.ckpt_every == 0 or step + 1 == tc.steps:
                    run.save(step + 1, {"model": model}, {"model": optimizer}, {"masks": masks})
        bar.close()
        export = run.folder / "encoder"
        save_local_vit(model.encoder, export)
        run.log(tc.steps, event="exported", path=str(export))
    return export
