"""Does bf16 autocast pay on this CPU? A 4096×1024×1024 matmul and a DiT-DH-XS training step (batch 64,
7×7×128 latents, fused AdamW), fp32 against bf16 autocast, 2 threads.

    python benchmarks/bf16_cpu.py
"""

import time

import torch

from replab.core.train import autocast, bf16_supported
from replab.diffusion.models import build_dit


def bench(fn, reps: int = 10) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def main() -> None:
    torch.set_num_threads(2)
    device = torch.device("cpu")
    print("bf16_supported:", bf16_supported(device))
    a, b = torch.randn(4096, 1024), torch.randn(1024, 1024)
    model = build_dit("DiT-DH-XS", 128, 7, 10)
    optimizer = torch.optim.AdamW(model.parameters(), fused=True)
    x, y, t = torch.randn(64, 128, 7, 7), torch.randint(0, 10, (64,)), torch.rand(64)
    for bf16 in (False, True):

        def matmul(bf16: bool = bf16) -> None:
            with autocast(device, bf16):
                (a @ b).float()

        def step(bf16: bool = bf16) -> None:
            with autocast(device, bf16):
                loss = model(x, t, y).float().pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        seconds = bench(matmul, 20)
        print(f"matmul bf16={bf16}: {2 * 4096 * 1024 * 1024 / seconds / 1e9:.0f} GFLOP/s")
        print(f"DiT-DH-XS train step (batch 64) bf16={bf16}: {bench(step, 5) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
