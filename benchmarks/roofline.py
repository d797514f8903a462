"""How close to this machine's limit: the measured GEMM peak, and each workload's achieved FLOP/s as a fraction
of it (issue 34).

Peak: large square matmuls (``--size``, fp32 through MKL's ``torch.mm`` and oneDNN's linear, bf16 where the
CPU has bf16 units), the best of each. Workloads, FLOPs counted by ``torch.utils.flop_counter`` (matmuls,
attention; elementwise work is not counted, so a fraction below 1 also holds the time spent outside GEMMs):
a DiT-DH-S training step (16×16×768 latents, random weights, fused AdamW), DiT-DH-XS sampling (the shipped
model, one CFG Euler step of the exact path, and of the fast path as the sampler runs it: two parts at
once), a training step of the shipped RAE's decoder, and
LCO encode (``Embedder.encode`` of the offline SmolLM2-135M, when ``make slow-deps`` has installed it).

    .venv/bin/python -m benchmarks.roofline [--threads 2] [--out roofline.json]   (from the repository root)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.sampling_speed import cpu_model
from replab import ASSETS
from replab.core import layers
from replab.core.inference import fast_forward, in_parallel
from replab.core.train import TrainConfig, adamw, autocast, bf16_supported
from replab.diffusion.models import build_dit
from replab.diffusion.sample import FAST_BATCH, load_diffusion
from replab.diffusion.samplers import guided_velocity


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def flops_of(fn: Callable[[], object]) -> int:
    """The FLOPs of one call; replab's oneDNN linears are counted as the ``F.linear`` they compute (the counter
    does not know ``mkldnn._linear_pointwise``), and on one thread, so that ``in_parallel`` runs its parts in
    this thread, where the (thread-local) counter sees them."""
    saved, layers._ONEDNN = layers._ONEDNN, False
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with FlopCounterMode(display=False) as counter:
            fn()
    finally:
        layers._ONEDNN = saved
        torch.set_num_threads(threads)
    return counter.get_total_flops()


def gemm_peak(size: int, repeats: int) -> dict:
    a, b = torch.randn(size, size), torch.randn(size, size)
    flops = 2 * size**3
    out = {
        "fp32 MKL (torch.mm)": flops / median_seconds(lambda: torch.mm(a, b), repeats),
        "fp32 oneDNN (linear)": flops
        / median_seconds(lambda: torch.ops.mkldnn._linear_pointwise(a, b, None, "none", [], ""), repeats),  # fmt: skip
    }
    if bf16_supported(torch.device("cpu")):
        a16, b16 = a.bfloat16(), b.bfloat16()
        out["bf16 (torch.mm)"] = flops / median_seconds(lambda: torch.mm(a16, b16), repeats)
    return out


def dit_dh_s_step(batch: int, bf16: bool) -> tuple[Callable[[], None], str]:
    torch.manual_seed(0)
    model = build_dit("DiT-DH-S", 768, 16, 1000, style="official-rae").train()
    optimizer = adamw(model.parameters(), TrainConfig(lr=2e-4))
    x, y, t = torch.randn(batch, 768, 16, 16), torch.randint(0, 1000, (batch,)), torch.rand(batch)

    def step() -> None:
        with autocast(torch.device("cpu"), bf16):
            loss = model(x, t, y).float().square().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step, "bf16" if bf16 else "fp32"


def dit_dh_xs_sampling_step(batch: int, exact: bool) -> Callable[[], None]:
    model, config, _ = load_diffusion(ASSETS / "runs" / "dit-dh-fmnist")
    guidance = dataclasses.replace(config.sample, exact=exact)
    y = torch.arange(batch) % 10
    x = torch.randn(batch, *model_shape(model))
    velocity = guided_velocity(model, y, guidance, None, model.null_label)

    @torch.no_grad()
    def step() -> None:
        with fast_forward("cpu", enabled=not exact):
            velocity(x, 0.5)

    return step


def model_shape(model) -> tuple[int, int, int]:
    return model.channels, model.grid, model.grid


def rae_decoder_step(batch: int) -> Callable[[], None]:
    from replab.rae.model import load_rae

    rae, _ = load_rae(ASSETS / "runs" / "rae-fmnist")
    decoder = rae.decoder.train()
    optimizer = adamw(decoder.parameters(), TrainConfig(lr=1e-4))
    z = torch.randn(batch, *rae.latent_shape)
    target = torch.rand(batch, 1, 28, 28)

    def step() -> None:
        loss = (decoder(z) - target).square().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def lco_encode(texts: int) -> Callable[[], None] | None:
    from replab.embed.model import Embedder

    try:
        model = Embedder.from_pretrained("smollm2")
    except Exception as exc:  # the offline model is installed by make slow-deps
        print(f"LCO encode skipped: {exc}")
        return None
    batch = [f"a short definition of the word number {i}, as WordNet would give it" for i in range(texts)]
    return lambda: model.encode(batch, batch_size=32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bf16 = bf16_supported(torch.device("cpu"))
    peak = gemm_peak(args.size, args.repeats)
    fp32_peak = max(v for k, v in peak.items() if k.startswith("fp32"))
    workloads: dict[str, tuple[Callable[[], object], float]] = {}
    for use_bf16 in (False, True) if bf16 else (False,):
        step, dtype = dit_dh_s_step(8, use_bf16)
        workloads[f"DiT-DH-S training step, batch 8, {dtype}"] = (
            step,
            peak["bf16 (torch.mm)"] if use_bf16 else fp32_peak,
        )
    fast_peak = peak["bf16 (torch.mm)"] if bf16 else fp32_peak
    workloads["DiT-DH-XS sampling, one CFG step, batch 250, exact"] = (dit_dh_xs_sampling_step(250, True), fp32_peak)
    part = dit_dh_xs_sampling_step(FAST_BATCH, False)
    workloads[f"DiT-DH-XS sampling, one CFG step, 2 parts of {FAST_BATCH} side by side, fast"] = (
        lambda: in_parallel([part, part], "cpu"), fast_peak)  # fmt: skip
    workloads["RAE decoder training step, batch 64, fp32"] = (rae_decoder_step(64), fp32_peak)
    encode = lco_encode(128)
    if encode is not None:
        workloads["LCO encode (SmolLM2-135M), 128 texts"] = (encode, fast_peak)
    rows = {}
    for name, (fn, against) in workloads.items():
        flops = flops_of(fn)
        seconds = median_seconds(fn, args.repeats)
        rows[name] = {"gflop": flops / 1e9, "seconds": seconds, "gflop_per_s": flops / seconds / 1e9,
                      "fraction_of_peak": flops / seconds / against}  # fmt: skip
        print(f"{name}: {rows[name]}", flush=True)
    result = {"cpu": cpu_model(), "bf16_units": bf16, "threads": args.threads, "torch": torch.__version__,
              "peak_gflop_per_s": {k: v / 1e9 for k, v in peak.items()}, "workloads": rows}  # fmt: skip
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    main()
