"""``make demo``'s wall time and where it goes, and how close its sampling runs to this machine's limit (issue 48).

Runs ``replab demo`` in a fresh process with an empty ``$REPLAB_CACHE`` (a first run: the fresh model's
latents are encoded), from this checkout or from another source tree (``--src``, e.g. a git worktree of an
earlier commit), and splits the wall time by the Run folders' footprints: the shipped model's FD sampling,
the fresh model's training, the rest (imports, reconstructions, grids, baselines, encoding, report).

``--avx2`` holds PyTorch, oneDNN and MKL to AVX2 (``ATEN_CPU_CAPABILITY=avx2``, ``ONEDNN_MAX_CPU_ISA=AVX2``,
``MKL_ENABLE_INSTRUCTIONS=AVX2``; bf16 autocast then stays off, as on a CPU without AVX-512): the nearest
this machine comes to an AVX2-only CPU. The limit: the measured fp32 GEMM peak (2048² matmuls, MKL and
oneDNN, the better) divided by the FLOPs one image costs at the run's sampling setting (one guided network
evaluation's matmul FLOPs, counted by ``torch.utils.flop_counter``, times the evaluations per image).

    .venv/bin/python -m benchmarks.demo_time [--avx2] [--src /tmp/pre/src] --out runs/demo_time.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def run_demo(src: Path | None, env: dict[str, str], out: Path) -> float:
    env = {**os.environ, **env, "OMP_WAIT_POLICY": "PASSIVE"}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "replab", "demo", "--out", str(out)], env=env, check=True)
    return time.perf_counter() - start


def split(out: Path, wall: float) -> dict:
    """Seconds by part, from each Run's footprint (its phases where it has them)."""
    fd = json.loads((out / "shipped_fd" / "footprint.json").read_text())
    train = json.loads((out / "dit" / "footprint.json").read_text())
    sampling = fd.get("phases", {}).get("sample", {}).get("duration_s", fd["duration_s"])
    n = json.loads((out / "shipped_fd" / "artifacts" / "fd.json").read_text())
    return {"wall_s": wall, "fd_sampling_s": sampling, "fd_img_per_s": n["n"] / sampling,
            "fresh_training_s": train["duration_s"], "rest_s": wall - sampling - train["duration_s"],
            "fd_fmnist": n["FD-fmnist"], "class_accuracy": n["class_accuracy"], "guidance": n["guidance"]}  # fmt: skip


def limit(guidance: dict) -> dict:
    """The fp32 GEMM peak and the img/s it allows at ``guidance`` (in this process: run it under the same env)."""
    import torch

    from benchmarks.roofline import flops_of, gemm_peak
    from replab import ASSETS
    from replab.diffusion.sample import load_diffusion, sampling_grid
    from replab.diffusion.samplers import GuidanceConfig, evaluations, guided_velocity

    torch.set_num_threads(2)
    peak = max(v for k, v in gemm_peak(2048, 3).items() if k.startswith("fp32"))
    model, config, rae = load_diffusion(ASSETS / "runs" / "dit-dh-fmnist")
    setting = GuidanceConfig(**{**guidance, "cfg_interval": tuple(guidance["cfg_interval"]), "exact": True})
    x, labels = torch.randn(32, *rae.latent_shape), torch.arange(32) % 10
    unguided = GuidanceConfig(exact=True)  # one evaluation of 32 rows
    with torch.no_grad():
        per_row = flops_of(lambda: guided_velocity(model, labels, unguided, None, model.null_label)(x, 0.5)) / 32
    nfe = evaluations(setting, sampling_grid(config, rae.latent_shape, setting))
    return {"fp32_gemm_peak_gflops": peak / 1e9, "gflop_per_image": per_row * nfe / 1e9, "nfe": nfe,
            "peak_img_per_s": peak / (per_row * nfe)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, default=None, help="another source tree's src/ (default: this one)")
    parser.add_argument("--avx2", action="store_true", help="hold PyTorch, oneDNN and MKL to AVX2")
    parser.add_argument("--limit-only", action="store_true", help="only the GEMM peak and the img/s it allows")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    env = AVX2 if args.avx2 else {}
    if args.limit_only:  # called by the parent under the demo's env
        print(json.dumps(limit(json.loads(sys.stdin.read()))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        wall = run_demo(args.src, {**env, "REPLAB_CACHE": f"{tmp}/cache"}, Path(tmp) / "demo")
        result = split(Path(tmp) / "demo", wall)
    probe = subprocess.run([sys.executable, "-m", "benchmarks.demo_time", "--limit-only", "--out", "-"],
                           input=json.dumps(result["guidance"]), capture_output=True, text=True, check=True,
                           env={**os.environ, **env, "OMP_WAIT_POLICY": "PASSIVE"})  # fmt: skip
    result.update(json.loads(probe.stdout.strip().splitlines()[-1]))
    result.update(
        src=str(args.src or "this checkout"),
        avx2=args.avx2,
        ratio_to_peak=result["fd_img_per_s"] / result["peak_img_per_s"],
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
