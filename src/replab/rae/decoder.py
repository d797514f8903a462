"""The RAE decoder: Linear(C→D) → ViT blocks with 2D sin-cos positions → LayerNorm → Linear(D→p·p·c) → unpatchify.

Two styles. ``replab``: this project's own (tanh GELU, LayerNorm eps 1e-6, Xavier init, output in
[-1, 1]). ``official-rae``: what the official release's ``GeneralDecoder`` (``stage1/decoders/decoder.py``,
a ViT-MAE decoder) computes — a trainable CLS token in front, sin-cos positions in the MAE order with a
zero row for it, exact GELU, LayerNorm eps 1e-12, PyTorch's default init, and output in the encoder's
normalised pixel space (``x · std + mean`` gives pixels). ``replab.rae.official`` converts its weights.
"""

from __future__ import annotations

import torch
from torch import nn

from replab.core.layers import Block, init_vit_weights, sincos_2d, unpatchify, use_cpu_linears
from replab.errors import ConfigError

# name: (width, depth, heads), as in the paper's ViT-B/L/XL decoders; tiny and S for small data
DECODER_SIZES: dict[str, tuple[int, int, int]] = {
    "tiny": (192, 4, 3),
    "S": (384, 12, 6),
    "B": (768, 12, 12),
    "L": (1024, 24, 16),
    "XL": (1152, 28, 16),
}
DECODER_STYLES = ("replab", "official-rae")


class ViTDecoder(nn.Module):
    def __init__(
        self,
        in_channels: int,
        grid: int,
        patch_size: int,
        out_channels: int,
        size: str = "B",
        style: str = "replab",
        mlp_width: int = 0,
        pixel_mean: tuple[float, ...] = (),
        pixel_std: tuple[float, ...] = (),
    ) -> None:
        """``mlp_width`` 0 = 4 × width; ``pixel_mean``/``pixel_std``: the encoder's input normalisation, which
        the ``official-rae`` style's output is in."""
        super().__init__()
        if size not in DECODER_SIZES:
            raise ConfigError(f"decoder.size: unknown size '{size}'; valid: {', '.join(DECODER_SIZES)}")
        if style not in DECODER_STYLES:
            raise ConfigError(f"decoder.style: unknown '{style}'; valid: {', '.join(DECODER_STYLES)}")
        width, depth, heads = DECODER_SIZES[size]
        self.grid, self.patch_size, self.out_channels, self.style = grid, patch_size, out_channels, style
        official = style == "official-rae"
        self.embed = nn.Linear(in_channels, width)
        pos = sincos_2d(width, grid, xy=official)
        if official:
            if len(pixel_mean) != out_channels or len(pixel_std) != out_channels:
                raise ConfigError(
                    f"decoder.style official-rae writes pixels normalised like the encoder's input: it needs the "
                    f"encoder's mean/std for {out_channels} channels, got {len(pixel_mean)}"
                )
            self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
            pos = torch.cat([torch.zeros(1, width), pos])
            self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(1, -1, 1, 1), persistent=False)
            self.register_buffer("pixel_std", torch.tensor(pixel_std).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("pos", pos[None], persistent=False)
        eps, gelu = (1e-12, "none") if official else (1e-6, "tanh")
        self.blocks = nn.ModuleList(Block(width, heads, eps=eps, hidden=mlp_width, gelu=gelu) for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=eps)
        self.head = nn.Linear(width, patch_size * patch_size * out_channels)
        if not official:  # the official decoder keeps PyTorch's default initialisation
            self.apply(init_vit_weights)
        use_cpu_linears(self)  # the same nn.Linear weights; fp32 CPU GEMMs through oneDNN (core.layers.CPULinear)

    @property
    def last_layer(self) -> torch.Tensor:
        """The weight the adaptive GAN weight is computed on."""
        return self.head.weight

    def logits(self, latents: torch.Tensor) -> torch.Tensor:
        """``[B, C, h, w]`` latents → the head's output per patch, ``[B, h·w, p·p·c]``."""
        x = self.embed(latents.flatten(2).transpose(1, 2))
        if self.style == "official-rae":
            x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1)
        x = x + self.pos
        for block in self.blocks:
            x = block(x)
        out = self.head(self.norm(x))
        return out[:, 1:] if self.style == "official-rae" else out

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """``[B, C, h, w]`` latents → ``[B, c, h·p, w·p]`` images in [-1, 1] (unclamped)."""
        images = unpatchify(self.logits(latents), self.patch_size, self.out_channels)
        if self.style == "official-rae":
            return (images * self.pixel_std + self.pixel_mean) * 2 - 1
        return images
