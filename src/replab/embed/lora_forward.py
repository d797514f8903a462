"""A LoRA linear's update as one in-place GEMM: ``y = W x + b``, then ``y += s · (A x) Bᵀ`` by ``addmm_``
with beta = 1, instead of peft's three full-width passes (``B(A x)``, ``· s``, ``+``). On a CPU those
passes are memory-bound and cost about a fifth of a contrastive step at SmolLM2-135M's width; the GEMM's
own accumulation does the same work in place.

The parameters, their names and the saved adapter stay peft's; peft's own forward runs wherever this
one does not apply (merged or disabled adapters, several active adapters, DoRA and other variants, LoRA
biases, mixed-adapter batches, a base layer that is not a plain ``nn.Linear``, and a peft release that lacks
the internals read here: ``lora_variant`` and ``_cast_input_dtype``).
"""

from __future__ import annotations

import torch


def _peft_linear() -> type:
    from peft.tuners.lora import Linear

    return Linear


def _single_adapter(layer) -> str | None:
    """The one plain-LoRA adapter this layer can run fused, else None."""
    variants = getattr(layer, "lora_variant", None)  # peft's own internals: absent in older releases
    if not isinstance(variants, dict) or not callable(getattr(layer, "_cast_input_dtype", None)):
        return None
    if layer.disable_adapters or layer.merged or not isinstance(layer.base_layer, torch.nn.Linear):
        return None
    names = [n for n in layer.active_adapters if n in layer.lora_A]
    if len(names) != 1 or names[0] in variants or layer.lora_B[names[0]].bias is not None:
        return None
    return names[0]


def _fused_forward(layer, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    name = None if args or kwargs else _single_adapter(layer)
    if name is None:
        return _peft_linear().forward(layer, x, *args, **kwargs)
    out = layer.base_layer(x)
    lora_a, lora_b = layer.lora_A[name], layer.lora_B[name]
    low = lora_a(layer.lora_dropout[name](layer._cast_input_dtype(x, lora_a.weight.dtype)))
    low, update = low.reshape(-1, low.shape[-1]).to(out.dtype), lora_b.weight.t().to(out.dtype)
    flat = out.view(-1, out.shape[-1])
    if out._is_view():  # a custom Function's output (core.layers' oneDNN linear) may not be changed in place
        return torch.addmm(flat, low, update, alpha=layer.scaling[name]).view(out.shape)
    # in place on the base output, which no backward needs (a frozen linear saves its input, not its output)
    flat.addmm_(low, update, alpha=layer.scaling[name])
    return out


_FUSED: dict[type, type] = {}


def fuse_lora_linears(model: torch.nn.Module) -> int:
    """Give every peft LoRA ``Linear`` of ``model`` the fused forward (a subclass, so peft's checks and
    saving still see its own class); returns how many layers it changed."""
    base = _peft_linear()
    changed = 0
    for module in model.modules():
        cls = type(module)
        if isinstance(module, base) and cls not in _FUSED.values():
            if cls not in _FUSED:
                _FUSED[cls] = type(f"Fused{cls.__name__}", (cls,), {"forward": _fused_forward})
            module.__class__ = _FUSED[cls]
            changed += 1
    return changed
