"""Small ViT building blocks shared by the encoders, decoders and diffusion models (no timm)."""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn


def sincos_2d(dim: int, grid: int, xy: bool = False) -> torch.Tensor:
    """Fixed 2D sine-cosine position embedding, ``[grid*grid, dim]``: half of dim per axis, rows first, or
    columns first with ``xy`` (the MAE/DiT reference code's order)."""
    if dim % 4:
        raise ValueError(f"sin-cos position embedding needs a width divisible by 4, got {dim}")
    quarter = dim // 4
    omega = 1.0 / (10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter))
    coords = torch.arange(grid, dtype=torch.float64)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")

    def embed(pos: torch.Tensor) -> torch.Tensor:
        angles = pos.reshape(-1, 1) * omega[None]
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    halves = [embed(xx), embed(yy)] if xy else [embed(yy), embed(xx)]
    return torch.cat(halves, dim=1).float()


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, qk_norm: bool = False) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        head_dim = dim // heads
        self.q_norm = nn.LayerNorm(head_dim) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(head_dim) if qk_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(self.q_norm(q), self.k_norm(k), v)
        return self.proj(x.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, gelu: str = "tanh") -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.gelu = gelu  # "tanh" (approximate) | "none" (exact erf GELU)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate=self.gelu))


class Block(nn.Module):
    """Pre-norm transformer block; ``hidden`` overrides ``dim · mlp_ratio`` for the MLP."""

    def __init__(
        self, dim: int, heads: int, mlp_ratio: float = 4.0, eps: float = 1e-6, hidden: int = 0, gelu: str = "tanh"
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, hidden or int(dim * mlp_ratio), gelu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """``[B, C, H, W]`` → ``[B, (H/p)·(W/p), p·p·C]``."""
    b, c, h, w = images.shape
    x = images.reshape(b, c, h // patch, patch, w // patch, patch)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // patch) * (w // patch), patch * patch * c)


def unpatchify(tokens: torch.Tensor, patch: int, channels: int) -> torch.Tensor:
    """Inverse of :func:`patchify` for a square grid."""
    b, n, _ = tokens.shape
    grid = int(math.isqrt(n))
    x = tokens.reshape(b, grid, grid, patch, patch, channels)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(b, channels, grid * patch, grid * patch)


def init_vit_weights(module: nn.Module) -> None:
    """Xavier-uniform linear layers with zero bias, as in MAE/DiT."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm) and module.elementwise_affine:
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class _RMSNormFunction(torch.autograd.Function):
    """RMSNorm without affine weight, with a hand-written backward: PyTorch's composite backward makes
    about eight passes over the activations (27 ms vs 7.6 ms for LayerNorm on a [2048, 768] CPU tensor)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, eps: float) -> torch.Tensor:  # type: ignore[override]
        inv_rms = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
        y = x * inv_rms
        ctx.save_for_backward(y, inv_rms)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        y, inv_rms = ctx.saved_tensors
        # d/dx of x·r with r = (mean(x²) + eps)^-1/2:  r · (g − y · mean(g·y))
        mean_gy = (grad * y).mean(-1, keepdim=True)
        return torch.addcmul(grad, y, mean_gy, value=-1).mul_(inv_rms), None


class RMSNorm(nn.Module):
    """RMSNorm over the last dimension (optionally with a learned scale), numerically ``nn.RMSNorm``."""

    def __init__(self, width: int, eps: float = 1e-6, affine: bool = True) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(width)) if affine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = _RMSNormFunction.apply(x, self.eps)
        return y * self.weight if self.weight is not None else y


class _OneDNNLinearFunction(torch.autograd.Function):
    """``F.linear`` with its three GEMMs (output, input gradient, weight gradient) in oneDNN: on the AMD EPYC
    CPUs measured here it runs fp32 GEMMs of ViT sizes 1.2–1.7× faster than the MKL path ``F.linear`` takes
    (benchmarks/RESULTS.md, issue 17). Same arithmetic up to fp32 summation order."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        out = torch.ops.mkldnn._linear_pointwise(x.reshape(-1, x.shape[-1]), weight, bias, "none", [], "")
        return out.reshape(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        g, rows = grad.reshape(-1, grad.shape[-1]), x.reshape(-1, x.shape[-1])
        need_x, need_w, need_b = ctx.needs_input_grad
        grad_x = _onednn_mm(g, weight.t()).reshape(x.shape) if need_x else None  # g · W
        grad_w = _onednn_mm(g.t(), rows.t()) if need_w else None  # gᵀ · x
        grad_b = g.sum(0) if ctx.has_bias and need_b else None
        return grad_x, grad_w, grad_b


def _onednn_mm(a: torch.Tensor, b_t: torch.Tensor) -> torch.Tensor:
    """a · b_tᵀ (``b_t`` in the [out, in] layout of a Linear weight)."""
    return torch.ops.mkldnn._linear_pointwise(a, b_t, None, "none", [], "")


ONEDNN_MIN_FEATURES = 256  # below this, oneDNN measured slower than MKL (e.g. 0.6× at in_features 64)


def _onednn_available() -> bool:
    return (
        os.environ.get("REPLAB_ONEDNN_LINEAR", "1") != "0"
        and torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    )


_ONEDNN = _onednn_available()


class _InferenceMode(threading.local):  # per thread, as autocast is: parallel sampler parts set their own
    onednn = False  # set by ``onednn_inference``: forward-only passes through oneDNN too


_INFERENCE = _InferenceMode()


@contextlib.contextmanager
def onednn_inference() -> Iterator[None]:
    """Inside: forward-only passes (sampling) of ``CPULinear`` layers take oneDNN's GEMMs as training does —
    faster on the CPUs measured, at fp32 rounding slightly looser than MKL's (the exact path stays outside)."""
    before = _INFERENCE.onednn
    _INFERENCE.onednn = True
    try:
        yield
    finally:
        _INFERENCE.onednn = before


class CPULinear(nn.Linear):
    """``nn.Linear`` (same parameters, same state dict) whose fp32 CPU GEMMs go through oneDNN in training
    (autograd on) and inside ``onednn_inference`` (sampling's fast path) when both widths are ≥
    ``ONEDNN_MIN_FEATURES``. Everything else is plain ``F.linear``: GPU, bf16 autocast, torch.compile, small
    layers, and the other forward-only passes (exact sampling, evaluation, parity checks), which keep MKL's
    GEMMs because they round less (max error against fp64 3.4e-7 vs oneDNN's 1.3e-6 at K = 2048 — both
    fp32-level, but only the first keeps the official parity within 1e-5 after CFG's amplification).
    ``REPLAB_ONEDNN_LINEAR=0`` turns it off."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            x.device.type == "cpu"
            and x.dtype == torch.float32
            and self.weight.dtype == torch.float32
            and min(self.in_features, self.out_features) >= ONEDNN_MIN_FEATURES
            and not torch.is_autocast_enabled("cpu")
            and (torch.is_grad_enabled() or _INFERENCE.onednn)
            and not torch.compiler.is_compiling()
            and _ONEDNN
        ):
            return _OneDNNLinearFunction.apply(x, self.weight, self.bias)
        return F.linear(x, self.weight, self.bias)


def use_cpu_linears(model: nn.Module) -> nn.Module:
    """Turn every plain ``nn.Linear`` of ``model`` into a ``CPULinear`` in place (parameters untouched)."""
    for module in model.modules():
        if type(module) is nn.Linear:
            module.__class__ = CPULinear
    return model
