"""``local-vit``: a small ViT encoder that replab pre-trains itself on Fashion-MNIST.

Pre-training (``replab rae pretrain-encoder``) is masked autoencoding (MAE, 75% of patches masked,
pixel targets) plus a light supervised term: a linear classifier on the CLS token. The MAE term
keeps pixel detail in every patch token, so a decoder can reconstruct from them; the class term
makes the tokens carry the semantics that diffusion and attribute probes rely on. Self-distillation
in the style of DINOv2 would be the closer analogue but needs far more compute than a CPU budget.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from replab.core.layers import Block, init_vit_weights, patchify, sincos_2d
from replab.core.vit import LocalViT, LocalViTConfig

__all__ = ["LocalViT", "LocalViTConfig", "MAEPretrainer"]


class MAEPretrainer(nn.Module):
    """LocalViT + a light MAE decoder + a CLS classifier, for pre-training only."""

    def __init__(self, config: LocalViTConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = LocalViT(config)
        grid = self.encoder.grid
        self.decoder_embed = nn.Linear(config.dim, config.decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, config.decoder_dim))
        self.register_buffer("decoder_pos", sincos_2d(config.decoder_dim, grid)[None], persistent=False)
        self.decoder_blocks = nn.ModuleList(
            Block(config.decoder_dim, max(1, config.decoder_dim // 32)) for _ in range(config.decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(config.decoder_dim, eps=1e-6)
        self.decoder_pred = nn.Linear(config.decoder_dim, config.patch_size**2 * config.in_channels)
        self.classifier = nn.Linear(config.dim, config.num_classes)
        for module in (self.decoder_embed, self.decoder_blocks, self.decoder_norm, self.decoder_pred, self.classifier):
            module.apply(init_vit_weights)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        tokens = self.encoder.embed(images)
        b, n, d = tokens.shape
        keep = max(1, int(round(n * (1 - cfg.mask_ratio))))
        noise = torch.rand(b, n, generator=generator)
        order = noise.argsort(dim=1)
        restore = order.argsort(dim=1)
        visible = order[:, :keep]
        x = self.encoder.forward_tokens(tokens.gather(1, visible[..., None].expand(-1, -1, d)))
        cls, patches = x[:, 0], x[:, 1:]
        y = self.decoder_embed(patches)
        y = torch.cat([y, self.mask_token.expand(b, n - keep, -1)], dim=1)
        y = y.gather(1, restore[..., None].expand(-1, -1, y.shape[-1])) + self.decoder_pos
        for block in self.decoder_blocks:
            y = block(y)
        pred = self.decoder_pred(self.decoder_norm(y))
        target = patchify(images * 2 - 1, cfg.patch_size)
        target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6).sqrt()
        masked = torch.ones(b, n)
        masked[:, :keep] = 0
        masked = masked.gather(1, restore)
        rec = (((pred.float() - target) ** 2).mean(-1) * masked).sum() / masked.sum()
        logits = self.classifier(cls).float()
        cls_loss = F.cross_entropy(logits, labels)
        accuracy = (logits.argmax(-1) == labels).float().mean()
        loss = rec + cfg.class_weight * cls_loss
        return loss, {"mae": rec.item(), "ce": cls_loss.item(), "acc": accuracy.item()}
