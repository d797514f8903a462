"""DiT and DiT-DH in one file.

DiT (Peebles & Xie) with the modernisations of the RAE code: adaLN-Zero conditioning, RMSNorm,
SwiGLU feed-forward, 2D rotary position embedding, QK-norm, ``F.scaled_dot_product_attention``; each
modernisation can be switched off (``BlockStyle``; all off is the original DiT block).
Patch size 1 on RAE tokens: each latent token ``[C]`` is one transformer token.

DiT-DH adds the *wide, shallow diffusion head* of the RAE paper: the trunk's output tokens become a
per-token condition for a few very wide blocks that re-embed the noisy input and predict velocity.

Two named styles (``STYLES``): ``replab``, this project's own design (the shipped Fashion-MNIST model),
and ``official-rae``, which computes what the official RAE release computes (``DiTwDDTHead`` of
``stage2/models/DDT.py`` for a DiT-DH, ``LightningDiT`` for a plain DiT); every point where the two
differ is one field of ``BlockStyle``. ``replab.diffusion.official`` converts state dicts both ways.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn

from replab.core.layers import RMSNorm, sincos_2d, use_cpu_linears
from replab.errors import ConfigError


@dataclass(frozen=True)
class DiTSpec:
    width: int
    depth: int
    heads: int
    head_width: int = 0  # > 0 makes a DiT-DH
    head_depth: int = 0
    head_heads: int = 0


# name → (width, depth, heads[, head width, head depth, head heads])
DIT_MODELS: dict[str, DiTSpec] = {
    "DiT-tiny": DiTSpec(64, 2, 2),
    "DiT-S": DiTSpec(384, 12, 6),
    "DiT-B": DiTSpec(768, 12, 12),
    "DiT-L": DiTSpec(1024, 24, 16),
    "DiT-XL": DiTSpec(1152, 28, 16),
    "DiT-XS": DiTSpec(192, 6, 3),  # CPU-sized plain DiT, ~ the compute of DiT-DH-XS per token
    "DiT-DH-tiny": DiTSpec(64, 2, 2, 128, 2, 2),
    "DiT-DH-XS": DiTSpec(128, 4, 2, 256, 2, 4),  # CPU-sized, for 7×7×128 Fashion-MNIST latents
    "DiT-DH-T": DiTSpec(192, 4, 3, 384, 2, 6),
    "DiT-DH-S": DiTSpec(384, 12, 6, 2048, 2, 16),
    "DiT-DH-B": DiTSpec(768, 12, 12, 2048, 2, 16),
    "DiT-DH-L": DiTSpec(1024, 24, 16, 2048, 2, 16),
    "DiT-DH-XL": DiTSpec(1152, 28, 16, 2048, 2, 16),
}


TIME_FEATURES = ("sincos", "fourier")
HEAD_CONDITIONS = ("norm", "silu-t")
INITS = ("xavier", "official")


@dataclass(frozen=True)
class BlockStyle:
    """The RAE code's switches (``use_qknorm``, ``use_rope``, ``use_swiglu``, ``use_rmsnorm`` in its configs),
    then the points where replab's own design departs from the official code (defaults: replab's)."""

    qk_norm: bool = True
    rope: bool = True
    swiglu: bool = True  # else DiT's GELU(tanh) MLP
    rms_norm: bool = True  # else LayerNorm
    norm_weight: bool = False  # RMSNorm with a learned scale (official) or without
    rope_theta: float = 100.0  # RoPE frequency base (official: 10000)
    time_features: str = "sincos"  # sinusoids of 1000·t (DiT) | "fourier": 256 frozen Gaussian frequencies of t
    cond_silu: bool = False  # DiT-DH trunk condition SiLU(t + y) (official DiTwDDTHead; LightningDiT adds t + y)
    head_cond: str = "norm"  # head condition Linear(RMSNorm(s)) | "silu-t": Linear(SiLU(t_emb + s)) (official)
    head_pos: bool = True  # the head's re-embedded input gets a sin-cos position embedding (official: none)
    pos_xy: bool = False  # sin-cos halves ordered (column, row) as in the official code, else (row, column)
    init: str = "xavier"  # Xavier for every Linear | "official": PyTorch defaults in a DiT-DH, Xavier in LightningDiT
    label_dropout_in_forward: bool = False  # drop labels inside forward in training mode (official)

    def validate(self, where: str = "model") -> None:
        fields = [("time_features", TIME_FEATURES), ("head_cond", HEAD_CONDITIONS), ("init", INITS)]
        for name, valid in fields:
            value = getattr(self, name)
            if value not in valid:
                raise ConfigError(f"{where}.{name}: unknown '{value}'; valid: {', '.join(valid)}")


ORIGINAL_DIT = BlockStyle(qk_norm=False, rope=False, swiglu=False, rms_norm=False)
OFFICIAL_RAE = BlockStyle(
    qk_norm=False, norm_weight=True, rope_theta=10000.0, time_features="fourier", cond_silu=True,
    head_cond="silu-t", head_pos=False, pos_xy=True, init="official", label_dropout_in_forward=True,
)  # fmt: skip
STYLES: dict[str, BlockStyle] = {"replab": BlockStyle(), "official-rae": OFFICIAL_RAE, "original-dit": ORIGINAL_DIT}


def norm_layer(width: int, style: BlockStyle) -> nn.Module:
    if style.rms_norm:
        return RMSNorm(width, affine=style.norm_weight)
    return nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return torch.addcmul(shift, x, 1 + scale)  # one fused pass over x (CPU steps are bound by such passes)


class TimestepEmbedder(nn.Module):
    """t ∈ [0, 1] → sinusoidal features (t scaled by 1000, as in DiT) → MLP."""

    def __init__(self, width: int, frequencies: int = 256) -> None:
        super().__init__()
        self.frequencies = frequencies
        self.mlp = nn.Sequential(nn.Linear(frequencies, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.frequencies // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
        angles = 1000 * t.float()[:, None] * freqs[None]
        return self.mlp(torch.cat([angles.cos(), angles.sin()], dim=-1))


class FourierTimeEmbedder(nn.Module):
    """t ∈ [0, 1] → sin, cos of 2π·t·W for 256 frozen frequencies W ~ N(0, 1) → MLP (the official RAE's)."""

    def __init__(self, width: int, frequencies: int = 256) -> None:
        super().__init__()
        self.register_buffer("W", torch.randn(frequencies))
        self.mlp = nn.Sequential(nn.Linear(2 * frequencies, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = t.float()[:, None] * self.W[None] * 2 * math.pi
        return self.mlp(torch.cat([angles.sin(), angles.cos()], dim=-1))


class LabelEmbedder(nn.Module):
    """Class labels → vectors; index ``num_classes`` is the null label (label dropout in training, CFG).
    The training loop applies the dropout, so that it is drawn once for the global batch."""

    def __init__(self, num_classes: int, width: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.table = nn.Embedding(num_classes + 1, width)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return self.table(labels)


def rope_2d(grid: int, head_dim: int, theta: float = 100.0) -> torch.Tensor:
    """Rotations ``[grid², head_dim/2]`` as unit complex numbers: half of the pairs encode rows, half columns.
    Numerically the EVA/official form (cos/sin with rotate-half on interleaved pairs) at the same ``theta``."""
    quarter = head_dim // 4
    freqs = 1.0 / (theta ** (torch.arange(0, 2 * quarter, 2)[:quarter].float() / (2 * quarter)))
    coords = torch.arange(grid) / grid * grid  # the official code's positions, float rounding included
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    angles = torch.cat([yy.reshape(-1, 1) * freqs, xx.reshape(-1, 1) * freqs], dim=1)
    return torch.complex(angles.cos(), angles.sin())  # not torch.polar: its cos/sin round differently


def apply_rope(x: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive channel pairs of ``x [..., Dh]`` by ``rotations`` (broadcast to ``[..., Dh/2]``):
    one complex multiply (cheaper on CPUs than the cos/sin form, whose elementwise ops dominated a DiT-B step)."""
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(pairs * rotations).flatten(-2).type_as(x)


class Attention(nn.Module):
    def __init__(self, width: int, heads: int, qk_norm: bool = True, rope: bool = True) -> None:
        super().__init__()
        if width % heads:
            raise ConfigError(f"width {width} is not divisible by {heads} heads")
        self.heads, self.qk_norm, self.rope = heads, qk_norm, rope
        self.qkv = nn.Linear(width, 3 * width)
        self.q_norm = RMSNorm(width // heads) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(width // heads) if qk_norm else nn.Identity()
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        # unbind, not indexing: its backward is one stack, where three selects would each allocate and
        # fill a full-size zero gradient (measured: the largest non-GEMM cost of a DiT-B step on CPU)
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).unbind(2)
        q, k = self.q_norm(q), self.k_norm(k)
        if self.rope:
            q, k = apply_rope(q, rope[:, None]), apply_rope(k, rope[:, None])  # [B, N, H, Dh]
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(b, n, d))


class SwiGLU(nn.Module):
    def __init__(self, width: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        hidden = int(2 * width * mlp_ratio / 3)
        self.w12 = nn.Linear(width, 2 * hidden)
        self.w3 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(a) * b)


def gelu_mlp(width: int, mlp_ratio: float = 4.0) -> nn.Sequential:
    hidden = int(width * mlp_ratio)
    return nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, width))


class DiTBlock(nn.Module):
    """adaLN-Zero block; ``cond`` is ``[B, 1, D]`` (per sample) or ``[B, N, D]`` (per token, the DH head)."""

    def __init__(self, width: int, heads: int, style: BlockStyle = BlockStyle()) -> None:
        super().__init__()
        self.norm1 = norm_layer(width, style)
        self.attn = Attention(width, heads, style.qk_norm, style.rope)
        self.norm2 = norm_layer(width, style)
        self.mlp = SwiGLU(width) if style.swiglu else gelu_mlp(width)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))

    def forward(self, x: torch.Tensor, cond: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(cond).chunk(6, dim=-1)
        x = torch.addcmul(x, gate1, self.attn(modulate(self.norm1(x), shift1, scale1), rope))
        return torch.addcmul(x, gate2, self.mlp(modulate(self.norm2(x), shift2, scale2)))


class FinalLayer(nn.Module):
    def __init__(self, width: int, out_dim: int, style: BlockStyle = BlockStyle()) -> None:
        super().__init__()
        self.norm = norm_layer(width, style)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.linear = nn.Linear(width, out_dim)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        shift, scale = self.ada(cond).chunk(2, dim=-1)
        return self.linear(modulate(self.norm(x), shift, scale))


class DiT(nn.Module):
    """Velocity model ``v(x_t, t, y)`` on latents ``[B, C, h, w]``; a DiT-DH when ``spec.head_width > 0``.

    ``num_classes = 0`` makes it unconditional."""

    def __init__(
        self,
        spec: DiTSpec,
        channels: int,
        grid: int,
        num_classes: int = 0,
        label_init_std: float = 0.02,
        style: BlockStyle = BlockStyle(),
        label_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        style.validate()
        self.spec, self.channels, self.grid, self.num_classes = spec, channels, grid, num_classes
        self.label_init_std, self.style, self.label_dropout = label_init_std, style, label_dropout
        self.grad_checkpoint = False  # activation checkpointing per block (XL on GPUs): recompute, don't store
        width = spec.width
        self.x_embed = nn.Linear(channels, width)
        self.register_buffer("pos", sincos_2d(width, grid, style.pos_xy)[None], persistent=False)
        self.t_embed = FourierTimeEmbedder(width) if style.time_features == "fourier" else TimestepEmbedder(width)
        self.y_embed = LabelEmbedder(num_classes, width) if num_classes else None
        self.blocks = nn.ModuleList(DiTBlock(width, spec.heads, style) for _ in range(spec.depth))
        self._rope = {"trunk": rope_2d(grid, width // spec.heads, style.rope_theta)}
        if spec.head_width:
            hw = spec.head_width
            if style.head_cond == "norm":
                self.trunk_norm = norm_layer(width, style)
            self.cond_proj = nn.Linear(width, hw) if hw != width or style.head_cond == "norm" else nn.Identity()
            self.head_x_embed = nn.Linear(channels, hw)
            if style.head_pos:
                self.register_buffer("head_pos", sincos_2d(hw, grid, style.pos_xy)[None], persistent=False)
            self.head_blocks = nn.ModuleList(DiTBlock(hw, spec.head_heads, style) for _ in range(spec.head_depth))
            self._rope["head"] = rope_2d(grid, hw // spec.head_heads, style.rope_theta)
            self.final = FinalLayer(hw, channels, style)
        else:
            self.final = FinalLayer(width, channels, style)
        self.initialize()
        use_cpu_linears(self)  # the same nn.Linear weights; fp32 CPU GEMMs through oneDNN (core.layers.CPULinear)

    @property
    def is_dh(self) -> bool:
        return self.spec.head_width > 0

    def initialize(self) -> None:
        def xavier(module: nn.Module) -> None:
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

        if self.style.init == "xavier" or not self.is_dh:  # LightningDiT initialises like replab
            self.apply(xavier)
        else:  # DiTwDDTHead keeps PyTorch's Linear defaults, Xavier only for its two patch embeddings
            xavier(self.x_embed)
            xavier(self.head_x_embed)
        nn.init.normal_(self.t_embed.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embed.mlp[2].weight, std=0.02)
        if self.y_embed is not None:
            nn.init.normal_(self.y_embed.table.weight, std=self.label_init_std)
        for block in [*self.blocks, *getattr(self, "head_blocks", [])]:  # adaLN-Zero: each block starts as identity
            nn.init.zeros_(block.ada[-1].weight)
            nn.init.zeros_(block.ada[-1].bias)
        nn.init.zeros_(self.final.ada[-1].weight)
        nn.init.zeros_(self.final.ada[-1].bias)
        nn.init.zeros_(self.final.linear.weight)
        nn.init.zeros_(self.final.linear.bias)

    def _rope_for(self, part: str, device: torch.device) -> torch.Tensor:
        if self._rope[part].device != device:
            self._rope[part] = self._rope[part].to(device)
        return self._rope[part]

    @property
    def null_label(self) -> int | None:
        return self.num_classes if self.num_classes else None

    def _labels(self, y: torch.Tensor | None, drop: torch.Tensor | None) -> torch.Tensor:
        if y is None:
            raise ConfigError("this model is class-conditional: pass labels (or the null label for CFG)")
        if drop is None and self.training and self.style.label_dropout_in_forward and self.label_dropout > 0:
            drop = torch.rand(len(y), device=y.device) < self.label_dropout
        return y if drop is None else torch.where(drop, torch.full_like(y, self.num_classes), y)

    def _block(self, block: nn.Module, hidden: torch.Tensor, cond: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
        if self.grad_checkpoint and self.training and torch.is_grad_enabled():
            return torch.utils.checkpoint.checkpoint(block, hidden, cond, rope, use_reentrant=False)
        return block(hidden, cond, rope)

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None, drop_labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``drop_labels`` (bool ``[B]``) replaces those labels by the null label: the trainer draws it for the
        global batch, so data-parallel training equals one process (the official ``force_drop_ids``)."""
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # patch size 1
        t_emb = self.t_embed(t)
        cond = t_emb if self.y_embed is None else t_emb + self.y_embed(self._labels(y, drop_labels))
        if self.is_dh and self.style.cond_silu:
            cond = F.silu(cond)
        cond = cond[:, None]
        hidden = self.x_embed(tokens) + self.pos
        rope = self._rope_for("trunk", x.device)
        for block in self.blocks:
            hidden = self._block(block, hidden, cond, rope)
        if self.is_dh:
            if self.style.head_cond == "silu-t":
                cond = self.cond_proj(F.silu(t_emb[:, None] + hidden))
            else:
                cond = self.cond_proj(self.trunk_norm(hidden))
            hidden = self.head_x_embed(tokens)
            if self.style.head_pos:
                hidden = hidden + self.head_pos
            rope = self._rope_for("head", x.device)
            for block in self.head_blocks:
                hidden = self._block(block, hidden, cond, rope)
        out = self.final(hidden, cond)
        return out.transpose(1, 2).reshape(b, c, h, w)


def build_dit(
    name: str,
    channels: int,
    grid: int,
    num_classes: int = 0,
    label_init_std: float = 0.02,
    style: BlockStyle | str = BlockStyle(),
    label_dropout: float = 0.0,
) -> DiT:
    """A DiT of the registry; ``style`` a ``BlockStyle`` or a name of ``STYLES``; ``label_dropout`` is applied
    inside forward only by styles that do so (``official-rae``), else by the training loop."""
    if isinstance(style, str):
        if style not in STYLES:
            raise ConfigError(f"model.style: unknown '{style}'; valid: {', '.join(STYLES)}")
        style = STYLES[style]
    if name not in DIT_MODELS:
        raise ConfigError(f"model.name: unknown model '{name}'; valid: {', '.join(DIT_MODELS)}")
    spec = DIT_MODELS[name]
    if (spec.head_width or spec.width) < channels:
        import warnings

        warnings.warn(
            f"{name} has width {spec.head_width or spec.width} below the token dimension {channels}: the RAE paper "
            "shows such a model cannot fit even a single latent; choose a wider model",
            stacklevel=2,
        )
    return DiT(spec, channels, grid, num_classes, label_init_std, style, label_dropout)
