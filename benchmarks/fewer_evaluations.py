"""FD-fmnist against network evaluations (NFE) for the shipped DiT-DH-XS (issue 48).

Every point draws the same 1,000 samples' noise and labels as ``make demo``'s FD (seed 0, labels
``arange(n) % 10``, batches of 250) on the fast path, and scores them against the test split (FD-fmnist,
class accuracy, precision/recall). A point is a set of ``sample`` overrides, e.g.
``"sampler=dpm++2m steps=12 cfg_interval=[0.1,0.7]"``; NFE per sample counts a guided step inside the CFG
interval twice. Results go to ``--out`` (JSON) as they finish, so an interrupted study resumes.

    .venv/bin/python -m benchmarks.fewer_evaluations --study solvers --out benchmarks/figures/fd_vs_nfe.json
    .venv/bin/python -m benchmarks.fewer_evaluations --plot benchmarks/figures/fd_vs_nfe.json
    ATEN_CPU_CAPABILITY=avx2 .venv/bin/python -m benchmarks.fewer_evaluations --point "..." --out fp32.json  # no bf16
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from benchmarks.sampling_speed import cpu_model
from replab import ASSETS
from replab.core.config import apply_overrides, from_dict
from replab.core.data import DataConfig, load_images
from replab.core.run import Run
from replab.core.train import bf16_supported
from replab.diffusion.evaluate import score_samples
from replab.diffusion.sample import generate, load_diffusion, resolve_rae, sampling_grid
from replab.diffusion.samplers import evaluations

SHIPPED = ASSETS / "runs" / "dit-dh-fmnist"
STUDIES = {
    "solvers": [f"sampler=euler steps={s}" for s in (10, 16, 25, 50)]
    + [f"sampler=heun steps={s}" for s in (5, 8, 13)]
    + [f"sampler={m} steps={s}" for m in ("adams2", "dpm++2m") for s in (8, 10, 12, 16, 25)],
    "grids": [f"sampler={m} steps={s} grid_shift={g}" for m in ("adams2", "dpm++2m") for s in (10, 16)
              for g in (0.5, 2.0, 3.0)],
    "shifts": [f"sampler={m} steps={s} grid_shift={g}" for m, s in (("adams2", 6), ("adams2", 8), ("dpm++2m", 8))
               for g in (3.0, 4.0, 6.0)]
    + [f"sampler=adams2 steps={s} grid_shift={g}" for s in (4, 5) for g in (4.0, 5.0)]
    + [f"sampler=euler steps={s} grid_shift=3.0" for s in (10, 16)] + ["sampler=heun steps=5 grid_shift=3.0"],
    "intervals": [f"sampler=adams2 steps={s} grid_shift=4.0 cfg_interval={i}" for s in (6, 8)
                  for i in ("[0.0,0.95]", "[0.0,0.9]", "[0.6,1.0]")],
    "reference": ["sampler=heun steps=50", "sampler=adams2 steps=50 grid_shift=4.0"],
}  # fmt: skip


def measure(point: str, n: int, model, config, rae, test, seed: int = 0) -> dict:
    guidance = apply_overrides(config.sample, point.split())
    guidance.validate()
    labels = torch.arange(n) % model.num_classes
    start = time.perf_counter()
    images = generate(model, rae, config, n=n, labels=labels, guidance=guidance, seed=seed, batch_size=250)
    seconds = time.perf_counter() - start
    nfe = evaluations(guidance, sampling_grid(config, rae.latent_shape, guidance))
    scores = score_samples(images, test, labels, "fd-fmnist")
    return {"point": point, "nfe": nfe, "seconds": seconds, "img_per_s": n / seconds,
            **{k: v for k, v in scores.items() if isinstance(v, float)}}  # fmt: skip


def run_study(points: list[str], n: int, out: Path, seed: int = 0) -> dict:
    fresh = {"cpu": cpu_model(), "n": n, "seed": seed, "bf16": bf16_supported(torch.device("cpu")), "points": {}}
    results = json.loads(out.read_text()) if out.exists() else fresh
    model, config, rae = load_diffusion(SHIPPED)
    data = Run.read_config(resolve_rae(config.rae, SHIPPED))["data"]
    test = load_images(from_dict(DataConfig, data, "rae config.yaml:data"), "test")
    for point in points:
        if point in results["points"]:
            continue
        row = measure(point, n, model, config, rae, test, seed)
        results["points"][point] = row
        print(f"{point:55s} NFE {row['nfe']:4d}  FD {row['FD-fmnist']:.3f}  acc {row['class_accuracy']:.3f}  "
              f"{row['img_per_s']:.1f} img/s", flush=True)  # fmt: skip
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1))
    return results


def _settings(point: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in point.split())


def plot(results: dict, path: Path) -> Path:
    """Left: each sampler on the shifted grid; right: grids shifted further towards noise, and CFG intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines: dict[tuple[int, str], list[tuple[int, float]]] = {}
    for point, row in results["points"].items():
        given = _settings(point)
        shift = float(given.get("grid_shift", 1.0))
        label = given.get("sampler", "euler") + (f", grid ×{shift:g}" if shift != 1.0 else "")
        if "cfg_interval" in given:
            label += f", CFG on t ∈ {given['cfg_interval']}"
        lines.setdefault((0 if shift == 1.0 else 1, label), []).append((row["nfe"], row["FD-fmnist"]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    for (panel, label), xy in sorted(lines.items()):
        xy.sort()
        style = "x--" if "CFG on" in label else "o-"
        axes[panel].plot([x for x, _ in xy], [y for _, y in xy], style, label=label, ms=4)
    titles = ("samplers on the shifted grid (grid ×1)", "grids shifted further towards noise; CFG intervals")
    for ax, title in zip(axes, titles):
        ax.axhline(4.11 * 1.03, color="grey", ls=":", lw=1, label="4.11 + 3 %")
        ax.set_xscale("log")
        ax.set_ylim(3.5, 9)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("network evaluations per sample (NFE)")
        ax.legend(fontsize=6.5, loc="upper right")
    axes[0].set_ylabel(f"FD-fmnist ({results['n']} samples, seed {results.get('seed', 0)})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", choices=sorted(STUDIES), action="append", default=[])
    parser.add_argument("--point", action="append", default=[], help="sample overrides, e.g. 'steps=12'")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0, help="the noise seed (0: make demo's samples)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/figures/fd_vs_nfe.json"))
    parser.add_argument("--plot", type=Path, default=None, help="plot this results file and stop")
    args = parser.parse_args()
    if args.plot:
        print(plot(json.loads(args.plot.read_text()), args.plot.with_suffix(".png")))
        return
    points = [p for study in args.study for p in STUDIES[study]] + args.point
    run_study(points, args.n, args.out, args.seed)


if __name__ == "__main__":
    main()
