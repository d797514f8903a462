"""The fused LoRA forward (one in-place GEMM for the update) against peft's own forward."""

import pytest
import torch

from replab.core.layers import use_cpu_linears
from replab.embed.lora_forward import fuse_lora_linears


def _lora_pair(cpu_linears: bool, dropout: float):
    """Two identical peft LoRA models; only the second has the fused forward."""
    from peft import LoraConfig, get_peft_model

    models = []
    for _ in range(2):
        torch.manual_seed(0)
        base = torch.nn.Sequential(torch.nn.Linear(256, 320), torch.nn.GELU(), torch.nn.Linear(320, 256))
        if cpu_linears:  # a base whose output is a custom Function's view: the update cannot be in place
            use_cpu_linears(base)
        model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, lora_dropout=dropout, target_modules=["0", "2"]))
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.1)
        models.append(model.train())
    assert fuse_lora_linears(models[1]) == 2
    return models


@pytest.mark.parametrize("cpu_linears", [False, True])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_fused_lora_forward_equals_peft(cpu_linears, dropout):
    plain, fused = _lora_pair(cpu_linears, dropout)
    x = torch.randn(3, 7, 256, generator=torch.Generator().manual_seed(1))
    outputs = []
    for model in (plain, fused):
        torch.manual_seed(2)  # the same dropout masks on both sides
        out = model(x)
        out.square().mean().backward()
        outputs.append((out, {n: p.grad for n, p in model.named_parameters() if p.requires_grad}))
    (out_a, grads_a), (out_b, grads_b) = outputs
    assert torch.allclose(out_a, out_b, atol=1e-5)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) == 4
    for key in grads_a:
        assert torch.allclose(grads_a[key], grads_b[key], atol=1e-5), key


def test_fused_lora_defers_to_peft_when_adapters_are_off_or_merged():
    plain, fused = _lora_pair(False, 0.0)
    x = torch.randn(4, 256)
    with fused.disable_adapter(), plain.disable_adapter():
        assert torch.allclose(fused(x), plain(x), atol=1e-6)
    fused.merge_adapter()
    assert torch.allclose(fused(x), plain(x), atol=1e-5)
    fused.unmerge_adapter()
    assert torch.allclose(fused(x), plain(x), atol=1e-5)


def test_a_peft_without_the_internals_read_here_gets_its_own_forward(monkeypatch):
    """An older peft (no ``lora_variant``, no ``_cast_input_dtype``): peft's forward, not an AttributeError."""
    from replab.embed import lora_forward

    plain, fused = _lora_pair(False, 0.0)
    x = torch.randn(4, 256)
    expected = plain(x)
    calls = []

    def older_peft_forward(layer, x, *args, **kwargs):  # a FAKE for this test: an older peft's plain LoRA forward
        calls.append(layer)
        name = layer.active_adapters[0]
        low = layer.lora_A[name](layer.lora_dropout[name](x))
        return layer.base_layer(x) + layer.lora_B[name](low) * layer.scaling[name]

    monkeypatch.setattr(lora_forward._peft_linear(), "forward", older_peft_forward)
    layers = [m for m in fused.modules() if type(m).__name__.startswith("Fused")]
    for layer in layers:
        if hasattr(layer, "lora_variant"):  # a peft release before it had one (at peft 0.13 it is already absent)
            del layer.lora_variant
    assert torch.allclose(fused(x), expected, atol=1e-5) and len(calls) == len(layers)
    for layer in layers:
        layer.lora_variant = {}
    owner = next((c for c in type(layers[0]).__mro__ if "_cast_input_dtype" in vars(c)), None)
    if owner is not None:  # likewise absent from older releases
        monkeypatch.delattr(owner, "_cast_input_dtype")
    calls.clear()
    assert torch.allclose(fused(x), expected, atol=1e-5) and len(calls) == len(layers)
