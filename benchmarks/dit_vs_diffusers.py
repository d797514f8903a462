"""Training-step time: replab's DiT versus diffusers' ``DiTTransformer2DModel``, one process, same threads.

Both at DiT-B size (width 768, 12 layers, 12 heads, MLP ratio 4) on 16×16 RAE tokens of 768 channels
(patch 1, 256 tokens), class-conditional with 1,000 classes. replab is timed twice: with the original
DiT block (LayerNorm, GELU MLP, no RoPE, no QK-norm: the architecture diffusers implements, so the like-
for-like comparison) and as the official RAE config (RMSNorm, SwiGLU, RoPE; QK-norm off, ``--qk-norm``
turns it on). One step = forward + MSE + backward + AdamW. The median of interleaved repeats is
reported with each replab / diffusers ratio, plus replab's 50-step Euler sampling throughput.

    .venv/bin/python benchmarks/dit_vs_diffusers.py [--batch 8] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from replab.diffusion.models import ORIGINAL_DIT, BlockStyle, build_dit
from replab.diffusion.samplers import GuidanceConfig, euler, guided_velocity
from replab.diffusion.transport import Transport, TransportConfig


def diffusers_dit():
    from diffusers import DiTTransformer2DModel

    return DiTTransformer2DModel(
        num_attention_heads=12, attention_head_dim=64, in_channels=768, out_channels=768, num_layers=12,
        sample_size=16, patch_size=1, num_embeds_ada_norm=1000, norm_type="ada_norm_zero",
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sample-batch", type=int, default=4)
    parser.add_argument("--qk-norm", action="store_true", help="RMSNorm on q and k (off in the official RAE config)")
    args = parser.parse_args()
    torch.manual_seed(0)
    original = build_dit("DiT-B", 768, 16, num_classes=1000, style=ORIGINAL_DIT)
    ours = build_dit("DiT-B", 768, 16, num_classes=1000, style=BlockStyle(qk_norm=args.qk_norm))
    peer = diffusers_dit()
    x = torch.randn(args.batch, 768, 16, 16)
    t = torch.rand(args.batch)
    y = torch.randint(0, 1000, (args.batch,))
    target = torch.randn_like(x)
    steps = {
        "replab-dit": (original, torch.optim.AdamW(original.parameters(), lr=1e-4), lambda: original(x, t, y)),
        "replab-rae": (ours, torch.optim.AdamW(ours.parameters(), lr=1e-4), lambda: ours(x, t, y)),
        "diffusers": (peer, torch.optim.AdamW(peer.parameters(), lr=1e-4),
                      lambda: peer(x, timestep=t * 1000, class_labels=y).sample),
    }  # fmt: skip

    def one_step(name: str) -> float:
        _, optimizer, forward = steps[name]
        start = time.perf_counter()
        loss = (forward() - target).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return time.perf_counter() - start

    for name in steps:
        one_step(name)  # warm-up
    times = {name: [] for name in steps}
    for _ in range(args.repeats):
        for name in steps:
            times[name].append(one_step(name))
    median = {k: statistics.median(v) for k, v in times.items()}
    params = {k: sum(p.numel() for p in m.parameters()) / 1e6 for k, (m, _, _) in steps.items()}
    print(f"threads={torch.get_num_threads()} batch={args.batch}, 256 tokens × 768 channels, median of {args.repeats}, "
          f"replab-rae QK-norm {'on' if args.qk_norm else 'off (official RAE config)'}")  # fmt: skip
    for name in steps:
        print(f"  {name:<10} {params[name]:7.1f} M params  {median[name]:.3f} s/step")
    for name in ("replab-dit", "replab-rae"):
        print(f"  {name} / diffusers step time: {median[name] / median['diffusers']:.3f}x")

    ours.eval()
    transport = Transport(TransportConfig(), (768, 16, 16))
    noise = torch.randn(args.sample_batch, 768, 16, 16)
    labels = torch.randint(0, 1000, (args.sample_batch,))
    start = time.perf_counter()
    euler(guided_velocity(ours, labels, GuidanceConfig(), null_label=1000), noise, transport.grid(50))
    elapsed = time.perf_counter() - start
    print(f"  replab DiT-B sampling, 50 Euler steps: {args.sample_batch / elapsed:.3f} latents/s (decoding excluded)")


if __name__ == "__main__":
    main()
