import numpy as np
import torch

from replab.core.layers import patchify, sincos_2d, unpatchify
from replab.metrics.frechet import frechet_distance, frechet_from_features
from replab.metrics.image import psnr, ssim


def test_patchify_roundtrip():
    x = torch.randn(2, 3, 12, 12)
    tokens = patchify(x, 4)
    assert tokens.shape == (2, 9, 48)
    assert torch.equal(unpatchify(tokens, 4, 3), x)


def test_sincos_is_distinct_per_position():
    pos = sincos_2d(32, 5)
    assert pos.shape == (25, 32)
    assert torch.cdist(pos, pos).add(torch.eye(25)).min() > 0


def test_psnr_known_value():
    a = torch.zeros(1, 1, 4, 4)
    assert torch.allclose(psnr(a + 0.1, a), torch.tensor([20.0]), atol=1e-4)


def test_ssim_identity_and_degradation():
    x = torch.rand(2, 1, 28, 28)
    assert torch.allclose(ssim(x, x), torch.ones(2), atol=1e-5)
    assert (ssim(x, (x + 0.3 * torch.randn_like(x)).clamp(0, 1)) < 0.8).all()


def test_frechet_distance_of_gaussians_matches_closed_form():
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    s1, s2 = np.eye(3), 4 * np.eye(3)
    # |mu|^2 + tr(I + 4I - 2*2I) = 5 + 3
    assert abs(frechet_distance(mu1, s1, mu2, s2) - 8.0) < 1e-6


def test_frechet_of_a_sample_with_itself_is_zero():
    features = np.random.default_rng(0).normal(size=(500, 8))
    assert abs(frechet_from_features(features, features)) < 1e-6


def test_rms_norm_matches_torch_forward_and_backward():
    import torch

    from replab.core.layers import RMSNorm

    x = torch.randn(4, 5, 16, dtype=torch.float64, requires_grad=True)
    ours, ref = RMSNorm(16).double(), torch.nn.RMSNorm(16, eps=1e-6).double()
    with torch.no_grad():
        ours.weight.normal_()
        ref.weight.copy_(ours.weight)
    grad = torch.randn_like(x)
    ours(x).backward(grad)
    got = (x.grad.clone(), ours.weight.grad.clone())
    x.grad = None
    ref(x).backward(grad)
    assert torch.allclose(got[0], x.grad) and torch.allclose(got[1], ref.weight.grad)
    assert torch.autograd.gradcheck(RMSNorm(16, affine=False).double(), (x,))


def test_cpu_linear_matches_linear_forward_and_backward(monkeypatch):
    import copy

    from replab.core import layers

    assert torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise"), (
        "this torch build has no oneDNN linear (torch.ops.mkldnn._linear_pointwise): replab's CPU training "
        "path expects the pinned torch==2.13.0 CPU wheel, which has it"
    )
    monkeypatch.setattr(layers, "_ONEDNN", True)  # whatever REPLAB_ONEDNN_LINEAR says in this shell
    torch.manual_seed(0)
    plain = torch.nn.Sequential(torch.nn.Linear(384, 512), torch.nn.GELU(), torch.nn.Linear(512, 64))
    fast = layers.use_cpu_linears(copy.deepcopy(plain))
    assert [type(m) for m in fast] == [layers.CPULinear, torch.nn.GELU, layers.CPULinear]
    assert fast.state_dict().keys() == plain.state_dict().keys()
    x = torch.randn(3, 70, 384, requires_grad=True)
    grad = torch.randn(3, 70, 64)
    out = fast(x)
    assert "OneDNN" in type(fast[0](x).grad_fn).__name__  # the wide layer takes the oneDNN path
    assert "OneDNN" not in type(fast[2](torch.randn(2, 512)).grad_fn).__name__  # 64 outputs: plain F.linear
    out.backward(grad)
    got = [x.grad.clone()] + [p.grad.clone() for p in fast.parameters()]
    x.grad = None
    plain(x).backward(grad)
    want = [x.grad] + [p.grad for p in plain.parameters()]
    assert torch.allclose(out, plain(x), atol=1e-5, rtol=1e-5)
    for g, w in zip(got, want):
        assert torch.allclose(g, w, atol=1e-4, rtol=1e-5), (g - w).abs().max()
    with torch.no_grad():  # forward-only passes keep PyTorch's own GEMMs, bit for bit
        assert torch.equal(fast(x), plain(x))
    with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast keeps PyTorch's own (bf16) linear
        assert fast(x).dtype == torch.bfloat16
