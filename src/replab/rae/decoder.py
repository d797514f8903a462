"""The RAE decoder: Linear(C→D) → ViT blocks with 2D sin-cos positions → LayerNorm → Linear(D→p·p·c) → unpatchify."""

from __future__ import annotations

import torch
from torch import nn

from replab.core.layers import Block, init_vit_weights, sincos_2d, unpatchify
from replab.errors import ConfigError

# name: (width, depth, heads), as in the paper's ViT-B/L/XL decoders; tiny and S for small data
DECODER_SIZES: dict[str, tuple[int, int, int]] = {
    "tiny": (192, 4, 3),
    "S": (384, 12, 6),
    "B": (768, 12, 12),
    "L": (1024, 24, 16),
    "XL": (1152, 28, 16),
}


class ViTDecoder(nn.Module):
    def __init__(self, in_channels: int, grid: int, patch_size: int, out_channels: int, size: str = "B") -> None:
        super().__init__()
        if size not in DECODER_SIZES:
            raise ConfigError(f"decoder.size: unknown size '{size}'; valid: {', '.join(DECODER_SIZES)}")
        width, depth, heads = DECODER_SIZES[size]
        self.grid, self.patch_size, self.out_channels = grid, patch_size, out_channels
        self.embed = nn.Linear(in_channels, width)
        self.register_buffer("pos", sincos_2d(width, grid)[None], persistent=False)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.head = nn.Linear(width, patch_size * patch_size * out_channels)
        self.apply(init_vit_weights)

    @property
    def last_layer(self) -> torch.Tensor:
        """The weight the adaptive GAN weight is computed on."""
        return self.head.weight

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """``[B, C, h, w]`` latents → ``[B, c, h·p, w·p]`` images in [-1, 1] (unclamped)."""
        x = self.embed(latents.flatten(2).transpose(1, 2)) + self.pos
        for block in self.blocks:
            x = block(x)
        return unpatchify(self.head(self.norm(x)), self.patch_size, self.out_channels)
