"""A DiT training step with replab's oneDNN linears on and off, alternated in one process (issue 17).

.venv/bin/python benchmarks/cpu_linear_step.py --model DiT-DH-XS --channels 128 --grid 7 --batch 64
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from replab.core import layers
from replab.core.train import TrainConfig, adamw
from replab.diffusion.models import build_dit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="DiT-DH-XS")
    parser.add_argument("--channels", type=int, default=128)
    parser.add_argument("--grid", type=int, default=7)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_dit(args.model, args.channels, args.grid, 10, style="official-rae").train()
    optimizer = adamw(model.parameters(), TrainConfig(lr=3e-4))
    x, y = torch.randn(args.batch, args.channels, args.grid, args.grid), torch.randint(0, 10, (args.batch,))

    def step() -> None:
        loss = model(x, torch.rand(args.batch), y).square().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    times: dict[bool, list[float]] = {True: [], False: []}
    for i in range(args.steps + 2):  # 2 warm-up rounds
        for onednn in (True, False):
            layers._ONEDNN = onednn
            start = time.perf_counter()
            step()
            if i >= 2:
                times[onednn].append(time.perf_counter() - start)
    ratios = [a / b for a, b in zip(times[True], times[False])]
    print(f"{args.model} batch {args.batch}: oneDNN {statistics.median(times[True]) * 1e3:.0f} ms, "
          f"MKL {statistics.median(times[False]) * 1e3:.0f} ms, ratio median {statistics.median(ratios):.3f} "
          f"({min(ratios):.2f}–{max(ratios):.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
