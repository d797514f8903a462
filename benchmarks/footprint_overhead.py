"""Footprint tracker overhead on a training loop of 100 small steps, in one process.

Each trial times the same loop (a 3-layer MLP, batch 256, AdamW) without a tracker and with a full
Run-style tracker (construction, a "train" phase, add_units every step, close with footprint.json
and the ledger row); trials alternate so both see the same machine state. Reports the median
overhead in percent of the untracked wall time.

    .venv/bin/python benchmarks/footprint_overhead.py [--trials 7]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import torch

from replab.footprint import FootprintConfig, Tracker


def loop(tracker: Tracker | None, steps: int = 100) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.GELU(), torch.nn.Linear(512, 512),
                                torch.nn.GELU(), torch.nn.Linear(512, 10))  # fmt: skip
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = torch.randn(256, 256), torch.randint(0, 10, (256,))
    with tracker.phase("train") if tracker else contextlib.nullcontext():
        for _ in range(steps):
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if tracker:
                tracker.add_units("steps", 1)
                tracker.add_units("images", 256)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=7)
    args = parser.parse_args()
    loop(None)  # warm-up
    plain, tracked = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for trial in range(args.trials):
            start = time.perf_counter()
            loop(None)
            plain.append(time.perf_counter() - start)
            folder = Path(tmp) / f"run{trial}"
            folder.mkdir()
            start = time.perf_counter()
            tracker = Tracker(folder, "bench", FootprintConfig(ledger=str(Path(tmp) / "ledger.csv")))
            loop(tracker)
            summary = tracker.close()
            tracked.append(time.perf_counter() - start)
    a, b = statistics.median(plain), statistics.median(tracked)
    print(f"100 steps, threads={torch.get_num_threads()}, median of {args.trials} alternating trials")
    print(f"untracked {a:.3f} s, tracked {b:.3f} s, overhead {100 * (b - a) / a:+.2f}%")
    print(f"cpu method: {summary['methods']['cpu']['method']}")


if __name__ == "__main__":
    main()
