"""Where sampling time goes, and the fast path against the exact one and the official sampler (issue 34).

1. The shipped DiT-DH-XS (Fashion-MNIST, 7×7×128 latents), CFG 5, 50 Euler steps: img/s (from the median
   time of one CFG step) of the exact path, then each part of the fast path added in turn (fused CFG, oneDNN
   linears, bf16 autocast where the CPU has bf16 units, and the batch in 32-row parts run two side by side, as
   ``generate`` does), at several batch sizes; the RAE decode apart.
2. DiT-DH-S at random weights (16×16×768, the paper's size), 50-step Euler with CFG on the same noise: the
   official code's sampler (``Sampler.sample_ode`` with ``forward_with_cfg``) against replab's exact and fast
   paths, the official model converted with ``load_official`` (as ``import-official`` does), alternated in one
   process; the exact path's samples must equal the official ones to ≤ 1e-4.

    git clone https://github.com/bytetriper/RAE /path/RAE
    pip install --target /tmp/official-deps --no-deps einops torchdiffeq
    PYTHONPATH=/tmp/official-deps .venv/bin/python -m benchmarks.sampling_speed [--official /path/RAE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from replab import ASSETS
from replab.core.inference import fast_forward, in_parallel
from replab.core.train import bf16_supported
from replab.diffusion.official import load_official
from replab.diffusion.sample import FAST_BATCH, load_diffusion
from replab.diffusion.samplers import GuidanceConfig, euler, guided_velocity
from replab.diffusion.transport import Transport, TransportConfig


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def timed(fn, repeats: int) -> float:
    """The median of ``repeats`` timings after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


PARTS = f"+ {FAST_BATCH}-row parts, two side by side (generate's fast path)"


def parts_of(model, exact: GuidanceConfig, labels: torch.Tensor, x: torch.Tensor) -> list:
    """One CFG step of each ``FAST_BATCH``-row part, as ``generate`` integrates a batch on the fast path."""
    fast = dataclasses.replace(exact, exact=False)

    def part(rows: slice):
        velocity = guided_velocity(model, labels[rows], fast, None, model.null_label)
        with torch.no_grad(), fast_forward("cpu"):
            return velocity(x[rows], 0.5)

    return [lambda r=slice(i, i + FAST_BATCH): part(r) for i in range(0, len(x), FAST_BATCH)]


@torch.no_grad()
def shipped_ablation(batches: tuple[int, ...], repeats: int) -> dict:
    """img/s at 50 steps from the time of one CFG Euler step (the decode, once per image, is timed apart)."""
    model, config, rae = load_diffusion(ASSETS / "runs" / "dit-dh-fmnist")
    exact = dataclasses.replace(config.sample, exact=True)
    steps = exact.steps
    variants = {"exact (two CFG calls, MKL fp32)": (False, False, False), "+ fused CFG": (True, False, False),
                "+ oneDNN linears": (True, True, False)}  # fmt: skip
    if bf16_supported(torch.device("cpu")):
        variants["+ bf16 autocast (the fast path)"] = (True, True, True)
    rows: dict[str, dict[int, float]] = {name: {} for name in variants}
    for batch in batches:
        labels = torch.arange(batch) % 10
        x = torch.randn((batch, *rae.latent_shape), generator=torch.Generator().manual_seed(0))
        for name, (fused, onednn, bf16) in variants.items():
            velocity = guided_velocity(model, labels, dataclasses.replace(exact, exact=not fused), None,
                                       model.null_label)  # fmt: skip
            with fast_forward("cpu", enabled=onednn or bf16, bf16=bf16):
                rows[name][batch] = batch / (steps * timed(lambda v=velocity, x=x: v(x, 0.5), repeats))
        if bf16_supported(torch.device("cpu")):
            parts = parts_of(model, exact, labels, x)
            rows.setdefault(PARTS, {})[batch] = batch / (steps * timed(lambda p=parts: in_parallel(p, "cpu"), repeats))
    decode = {}
    for name, enabled in (("exact", False), ("fast", True)):
        z = torch.randn((250, *rae.latent_shape))
        with fast_forward("cpu", enabled=enabled):
            decode[name] = 250 / timed(lambda z=z: rae.decode(z), repeats)
    return {"img_per_s_at_50_steps": rows, "decode_img_per_s": decode, "steps": steps, "cfg": exact.cfg_scale}


@torch.no_grad()
def official_side_by_side(root: Path, batch: int, steps: int, repeats: int) -> dict:
    from benchmarks.official_parity import DH_S, max_abs, official_modules, perturb, replab_dit

    ddt, _, _, _, create_transport, sampler_cls = official_modules(root)
    cfg = DH_S
    torch.manual_seed(0)
    theirs = ddt(**cfg).eval()
    perturb(theirs, 5)
    ours = replab_dit(cfg).eval()
    load_official(ours, theirs.state_dict(), "official")
    shape = (cfg["in_channels"], cfg["input_size"], cfg["input_size"])
    shift = math.sqrt(math.prod(shape) / 4096)
    sample = sampler_cls(create_transport("Linear", "velocity", time_dist_shift=shift)).sample_ode(
        sampling_method="euler", num_steps=steps)  # fmt: skip
    g = torch.Generator().manual_seed(6)
    z, y = torch.randn(batch, *shape, generator=g), torch.randint(0, cfg["num_classes"], (batch,), generator=g)
    null = torch.full_like(y, cfg["num_classes"])
    exact = GuidanceConfig(cfg_scale=3.0, cfg_interval=(0.1, 1.0), steps=steps, schedule="official-rae", exact=True)
    grid = Transport(TransportConfig(), shape).grid(steps, schedule="official-rae")
    results: dict[str, torch.Tensor] = {}

    def official() -> None:
        results["official"] = sample(torch.cat([z, z]), theirs.forward_with_cfg, y=torch.cat([y, null]),
                                     cfg_scale=3.0, cfg_interval=(0.1, 1.0))[-1][:batch]  # fmt: skip

    def replab(guidance: GuidanceConfig, name: str):
        def run() -> None:
            with fast_forward("cpu", enabled=not guidance.exact):
                results[name] = euler(guided_velocity(ours, y, guidance, null_label=cfg["num_classes"]), z, grid)

        return run

    runs = {"official": official, "exact": replab(exact, "exact"),
            "fast": replab(dataclasses.replace(exact, exact=False), "fast")}  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in runs}
    for i in range(repeats + 1):  # alternated, so that load on the machine falls on all alike; one warm-up
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            if i:
                times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    per_image = {name: s / batch for name, s in median.items()}
    return {
        "seconds_per_image": per_image,
        "img_per_s": {name: 1 / s for name, s in per_image.items()},
        "ratio_exact_over_official": median["exact"] / median["official"],
        "ratio_fast_over_official": median["fast"] / median["official"],
        "max_abs_exact_vs_official": max_abs(results["exact"], results["official"]),
        "max_abs_fast_vs_official": max_abs(results["fast"], results["official"]),
        "sample_scale": results["official"].abs().max().item(),
        "batch": batch, "steps": steps, "repeats": repeats,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", default=None, help="a checkout of github.com/bytetriper/RAE (part 2)")
    parser.add_argument("--batches", default="32,64,128,250", help="part 1: batch sizes")
    parser.add_argument("--batch", type=int, default=2, help="part 2: images per sampling call")
    parser.add_argument("--repeats", type=int, default=1, help="part 2: timed rounds after a warm-up")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batches = tuple(int(b) for b in args.batches.split(","))
    results = {"cpu": cpu_model(), "bf16_units": bf16_supported(torch.device("cpu")), "threads": args.threads,
               "torch": torch.__version__, "dit_dh_xs": shipped_ablation(batches, 5)}  # fmt: skip
    print(json.dumps(results, indent=1), flush=True)
    if args.official:
        results["dit_dh_s_vs_official"] = official_side_by_side(Path(args.official), args.batch, 50, args.repeats)
        print(json.dumps(results["dit_dh_s_vs_official"], indent=1), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    main()
