"""``replab rae pretrain-encoder``: pre-train the local-vit encoder (MAE + a light class term)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from replab.core.config import to_dict
from replab.core.data import BatchOrder, DataConfig, load_images
from replab.core.loop import TrainLoop
from replab.core.run import Run
from replab.core.train import RESUMABLE_KEYS, TrainConfig, adamw, autocast, start_training
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
    device = start_training(tc)
    data = load_images(config.data, "train")
    model = MAEPretrainer(config.model).to(device)
    optimizer = adamw(model.parameters(), tc)
    masks = torch.Generator().manual_seed(tc.seed + 1)
    order = BatchOrder(len(data), tc.batch_size, tc.seed)
    with Run(out, to_dict(config), kind="rae-pretrain-encoder", mutable=RESUMABLE_KEYS) as run:
        loop = TrainLoop(run, tc, {"model": model}, {"model": optimizer}, {"masks": masks},
                         units={"images": tc.batch_size}, desc="pretrain-encoder")  # fmt: skip
        for step in loop:
            index = order.indices(step)
            images, labels = data.float(index).to(device), data.labels[index].to(device)
            with autocast(device, tc.bf16):
                loss, stats = model(images, labels, masks)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if tc.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
            optimizer.step()
            loop.end_step(step, loss=loss, **stats)
        export = run.folder / "encoder"
        save_local_vit(model.encoder, export)
        run.log(tc.steps, event="exported", path=str(export))
    return export
