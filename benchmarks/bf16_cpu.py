"""Does bf16 autocast pay on this CPU? A 4096×1024×1024 matmul and a DiT-DH-XS training step (batch 64,
7×7×128 latents, fused AdamW), fp32 against bf16 autocast, 2 threads.

    python benchmarks/bf16_cpu.py
"""

import time

import torch

from replab.core.train import autocast, bf16_supported
from replab.diffusion.models import build_dit

torch.set_num_threads(2)
dev = torch.device("cpu")
print("bf16_supported:", bf16_supported(dev))
a, b = torch.randn(4096, 1024), torch.randn(1024, 1024)


def bench(fn, reps=10):
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


for flag in (False, True):

    def mm():
        with autocast(dev, flag):
            (a @ b).float()

    s = bench(mm, 20)
    print(f"matmul bf16={flag}: {2 * 4096 * 1024 * 1024 / s / 1e9:.0f} GFLOP/s")
model = build_dit("DiT-DH-XS", 128, 7, 10)
opt = torch.optim.AdamW(model.parameters(), fused=True)
x, y, t = torch.randn(64, 128, 7, 7), torch.randint(0, 10, (64,)), torch.rand(64)
for flag in (False, True):

    def step():
        with autocast(dev, flag):
            loss = model(x, t, y).float().pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    s = bench(step, 5)
    print(f"DiT-DH-XS train step (batch 64) bf16={flag}: {s * 1e3:.0f} ms")
