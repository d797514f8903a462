"""A small ViT encoder (CLS token, fixed sin-cos positions, affine-free final LayerNorm): the ``local-vit``
that replab pre-trains on Fashion-MNIST (``replab.rae.local_vit``) and the vision tower of the small
multimodal LM the embedding system builds (``replab.embed.fmnist_vlm``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from replab.core.layers import Block, init_vit_weights, patchify, sincos_2d


@dataclass
class LocalViTConfig:
    image_size: int = 28
    in_channels: int = 1
    patch_size: int = 4
    dim: int = 128
    depth: int = 6
    heads: int = 4
    mlp_ratio: float = 4.0
    num_classes: int = 10
    # pre-training only
    decoder_dim: int = 96
    decoder_depth: int = 2
    mask_ratio: float = 0.75
    class_weight: float = 0.1


class LocalViT(nn.Module):
    """A ViT with a CLS token, fixed sin-cos positions and an affine-free final LayerNorm."""

    def __init__(self, config: LocalViTConfig) -> None:
        super().__init__()
        self.config = config
        if config.image_size % config.patch_size:
            raise ValueError(f"image_size {config.image_size} is not divisible by patch_size {config.patch_size}")
        self.grid = config.image_size // config.patch_size
        self.patch_embed = nn.Linear(config.patch_size**2 * config.in_channels, config.dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.dim))
        self.register_buffer("pos", sincos_2d(config.dim, self.grid)[None], persistent=False)
        self.blocks = nn.ModuleList(Block(config.dim, config.heads, config.mlp_ratio) for _ in range(config.depth))
        self.norm = nn.LayerNorm(config.dim, eps=1e-6, elementwise_affine=False)
        self.apply(init_vit_weights)
        nn.init.normal_(self.cls_token, std=0.02)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] → patch tokens with positions (no CLS)."""
        return self.patch_embed(patchify(images * 2 - 1, self.config.patch_size)) + self.pos

    def forward_tokens(self, tokens: torch.Tensor, return_hidden: bool = False):
        x = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        hidden = []
        for block in self.blocks:
            x = block(x)
            hidden.append(x)
        x = self.norm(x)
        return (x, hidden) if return_hidden else x

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, c, H, W]`` in [0, 1] → ``[B, 1 + N, dim]`` (CLS first), final-normed."""
        return self.forward_tokens(self.embed(images))


def read_local_vit(folder: str | Path) -> LocalViT:
    """A saved ``local-vit`` (``config.json`` + ``model.safetensors``), in fp32."""
    from safetensors.torch import load_file

    from replab.core.config import from_dict

    folder = Path(folder)
    config = from_dict(LocalViTConfig, json.loads((folder / "config.json").read_text()), str(folder / "config.json"))
    model = LocalViT(config)
    model.load_state_dict({k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()})
    return model
