"""Footprint tracker overhead on a training loop of 100 small steps, in one process.

Each trial times the same loop (a 3-layer MLP, batch 256, AdamW) without a tracker and with a full
Run-style tracker (construction, a "train" phase, add_units every step, close with footprint.json
and the ledger row). The order within a trial alternates (ABBA) so neither side always runs second,
and an untracked-vs-untracked control gives the noise floor. Reports medians of per-trial ratios.

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
from replab.footprint.meters import find_nvml


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


def fixed_cost_ms(repeats: int = 50) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for i in range(repeats):
            folder = Path(tmp) / str(i)
            folder.mkdir()
            tracker = Tracker(folder, "bench", FootprintConfig(ledger=str(Path(tmp) / "ledger.csv")))
            with tracker.phase("train"):
                pass
            tracker.close()
        return 1000 * (time.perf_counter() - start) / repeats


def per_step_cost_us(steps: int = 100_000) -> float:
    tracker = Tracker(None, "bench")
    with tracker.phase("train"):
        start = time.perf_counter()
        for _ in range(steps):
            tracker.add_units("steps", 1)
            tracker.add_units("images", 256)
        elapsed = time.perf_counter() - start
    tracker.close()
    return 1e6 * elapsed / steps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=11)
    args = parser.parse_args()
    loop(None)  # warm-up
    find_nvml()  # the one-off NVML probe of a process is not part of a loop's cost
    ratios, control, plain_times = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for trial in range(args.trials):
            folder = Path(tmp) / f"run{trial}"
            folder.mkdir()

            def tracked(folder: Path = folder) -> None:
                tracker = Tracker(folder, "bench", FootprintConfig(ledger=str(Path(tmp) / "ledger.csv")))
                loop(tracker)
                tracker.close()

            order = [("plain", lambda: loop(None)), ("tracked", tracked)]
            times = {}
            for name, fn in order if trial % 2 == 0 else order[::-1]:
                start = time.perf_counter()
                fn()
                times[name] = time.perf_counter() - start
            start = time.perf_counter()
            loop(None)
            times["plain2"] = time.perf_counter() - start
            plain_times.append(times["plain"])
            ratios.append(times["tracked"] / times["plain"])
            control.append(times["plain2"] / times["plain"])
    overhead, noise = 100 * (statistics.median(ratios) - 1), 100 * (statistics.median(control) - 1)
    print(f"100 steps, threads={torch.get_num_threads()}, {args.trials} trials, ABBA order")
    print(f"tracked / untracked: median {overhead:+.2f}%  (untracked / untracked control: {noise:+.2f}%)")
    fixed, per_step = fixed_cost_ms(), per_step_cost_us()
    loop_s = statistics.median(plain_times)
    direct = 100 * (fixed / 1000 + 100 * per_step / 1e6) / loop_s
    print(f"fixed cost of a tracker (construct + phase + close, footprint.json, ledger row): {fixed:.2f} ms")
    print(f"per step (two add_units calls): {per_step:.2f} us; untracked loop: {loop_s:.3f} s")
    print(f"overhead measured directly: {direct:.3f}% of the loop's wall time")


if __name__ == "__main__":
    main()
