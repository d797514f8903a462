"""``replab demo`` (``make demo``): RAE + DiT-DH on the embedded default (Fashion-MNIST,
the shipped encoder), in under four minutes on 2 cores.

1. From the checkpoints shipped under assets/runs (an RAE decoder and a DiT-DH trained by replab's
   own commands, see assets/README.md) it reconstructs test images, samples a class-conditional grid
   (one row per class) with the sampling setting the shipped run records (its ``sample`` section), and
   computes FD-fmnist beside two baselines: a Gaussian fitted to the training pixels, and real training
   images (the floor).
2. It trains a fresh small DiT-DH on the same latents for a fixed, small budget (steps × batch, the same
   on every CPU: progress bar, falling loss) and samples from it too.
3. It writes ``runs/demo/report.md`` with both grids, the figures and the energy footprint.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from replab.core.config import apply_overrides, from_dict, load_config  # noqa: E402
from replab.core.data import DataConfig  # noqa: E402
from replab.core.paths import check_folder_out  # noqa: E402
from replab.core.run import Run  # noqa: E402
from replab.diffusion.config import DiffusionConfig  # noqa: E402
from replab.diffusion.evaluate import evaluate_fd, reference_fds  # noqa: E402
from replab.diffusion.sample import run_guidance, sample_grid  # noqa: E402
from replab.diffusion.samplers import GuidanceConfig, describe  # noqa: E402
from replab.diffusion.train import train_diffusion  # noqa: E402
from replab.errors import CheckpointError  # noqa: E402
from replab.rae.reconstruct import reconstruct  # noqa: E402

SHIPPED = Path(__file__).resolve().parent / "assets" / "runs"
# The fresh model's budget: steps × batch, the same on every CPU (a picture of a DiT-DH learning, not a model);
# it sees 1,920 images, so 2,000 training images are encoded.
FRESH_BATCH, FRESH_IMAGES = 32, 2000


def _loss_plot(run: Path, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows])
    ax.set_xlabel("step")
    ax.set_ylabel("flow-matching loss")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _energy(folders: list[Path]) -> str:
    lines = []
    for folder in folders:
        record = json.loads((folder / "footprint.json").read_text())
        per_unit = ", ".join(f"{k} {v:.3g}" for k, v in record["per_unit"].items())
        how = "measured" if record["all_measured"] else "estimated"
        lines.append(f"| {folder.name} | {record['duration_s']:.0f} | {record['energy_j']['total']:.0f} | "
                     f"{record['co2e_g']:.3f} | {how} | {per_unit} |")  # fmt: skip
    return "\n".join(lines)


def _shipped(out: Path, n: int, cfg: float | None) -> dict:
    """Reconstructions, a class grid and FD-fmnist of the shipped RAE + DiT-DH, beside the baselines."""
    rae, dit = SHIPPED / "rae-fmnist", SHIPPED / "dit-dh-fmnist"
    guidance = run_guidance(dit)
    if cfg is not None:
        guidance = dataclasses.replace(guidance, cfg_scale=cfg)
    recon = reconstruct(rae, out / "shipped_recon.png", n=2000, grid=8, eval_folder=out / "shipped_recon")
    grid = sample_grid(dit, n=80, out=out / "shipped_samples.png", guidance=guidance)
    fd = evaluate_fd(dit, n=n, out=out / "shipped_fd", guidance=guidance)
    data = from_dict(DataConfig, Run.read_config(rae)["data"], "shipped rae config.yaml:data")
    baselines = reference_fds(data, n=n)
    print(f"  FD-fmnist {fd['FD-fmnist']:.2f}; Gaussian-pixels baseline {baselines['gaussian_pixels']:.2f}; "
          f"real training images {baselines['real_train_images']:.2f}")  # fmt: skip
    return {"recon": recon, "grid": grid, "fd": fd, "baselines": baselines, "guidance": guidance, "n": n}


def _fresh(out: Path, steps: int) -> dict:
    """A fresh DiT-DH-XS trained for ``steps`` small steps on the shipped RAE's latents, and its samples."""
    config = load_config(DiffusionConfig, "diffusion", "fmnist", [f"rae={SHIPPED / 'rae-fmnist'}"])
    budget = [f"train.steps={steps}", f"train.batch_size={FRESH_BATCH}", "train.warmup_steps=10",
              f"train.ckpt_every={steps}", f"train_images={FRESH_IMAGES}"]  # fmt: skip
    config = apply_overrides(config, budget)
    try:
        run = train_diffusion(config, out / "dit")
    except CheckpointError:  # the demo owns this folder: an earlier demo's run with another config is replaced
        print(f"{out / 'dit'} holds a run from an earlier version of the demo; training it afresh")
        shutil.rmtree(out / "dit")
        run = train_diffusion(config, out / "dit")
    return {"run": run, "steps": steps, "grid": sample_grid(run, n=80, out=out / "fresh_samples.png"),
            "loss": _loss_plot(run, out / "fresh_loss.png")}  # fmt: skip


def _report(out: Path, shipped: dict, fresh: dict) -> Path:
    fd, baselines, recon = shipped["fd"], shipped["baselines"], shipped["recon"]
    guidance: GuidanceConfig = shipped["guidance"]
    how, cfg = describe(guidance), guidance.cfg_scale
    ratio = fd["FD-fmnist"] / baselines["gaussian_pixels"]
    report = out / "report.md"
    report.write_text(f"""# replab demo: RAE + DiT-DH on Fashion-MNIST, on a CPU

## 1. Shipped checkpoints (trained by replab's own commands; see assets/README.md)

Class-conditional samples of the shipped DiT-DH-XS (EMA weights; {how}), one row per class
(T-shirt/top, trouser, pullover, dress, coat, sandal, shirt, sneaker, bag, ankle boot):

![shipped samples]({shipped["grid"].name})

| FD-fmnist ({shipped["n"]} samples vs the test split; CFG {cfg}) | value |
|---|---|
| shipped DiT-DH-XS | **{fd["FD-fmnist"]:.2f}** |
| Gaussian fitted to training pixels (baseline) | {baselines["gaussian_pixels"]:.2f} |
| real training images (floor) | {baselines["real_train_images"]:.2f} |
| model / Gaussian baseline | {ratio:.3f} |

Precision {fd["precision"]:.3f}, recall {fd["recall"]:.3f} (k-NN manifolds, k = 3). The FD-fmnist
classifier assigns {100 * fd["class_accuracy"]:.1f} % of samples to the requested class
({100 * fd["class_accuracy_ratio"]:.1f} % of its {100 * fd["real_test_accuracy"]:.1f} % accuracy on real test images).
FD-fmnist is the Fréchet distance in replab's own Fashion-MNIST classifier features — not Inception, not FID.

Shipped RAE decoder on 2,000 test images: PSNR {recon["psnr_db"]:.2f} dB, SSIM {recon["ssim"]:.4f}, rFD-fmnist
{recon["rFD-fmnist"]:.3f} (originals above reconstructions):

![reconstructions](shipped_recon.png)

## 2. A fresh DiT-DH-XS, {fresh["steps"]} steps of {FRESH_BATCH} images on this machine

A DiT-DH trains and samples here; {fresh["steps"]} steps only teach it the coarse shapes. The same preset
reaches FD-fmnist 7.83 after 3,000 steps of 64 images (about 50 minutes on 2 cores) and the shipped model
4.11 after 17,000 (benchmarks/RESULTS.md); `replab diffusion train --preset fmnist` runs it.

![fresh samples]({fresh["grid"].name}) ![loss]({fresh["loss"].name})

## 3. Energy and carbon

| run | seconds | joules | gCO2e | how | per unit |
|---|---|---|---|---|---|
{_energy([out / "shipped_recon", out / "shipped_fd", fresh["run"]])}
""")
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/demo")
    parser.add_argument("--n", type=int, default=1000, help="samples for FD-fmnist")
    parser.add_argument(
        "--train-steps", type=int, default=60, help=f"steps of the fresh DiT-DH ({FRESH_BATCH} images each)"
    )
    parser.add_argument("--cfg", type=float, default=None, help="CFG scale (default: the shipped run's, 5)")
    args = parser.parse_args(argv)
    out = check_folder_out(args.out, "--out")
    out.mkdir(parents=True, exist_ok=True)
    print("== 1/3 the shipped RAE decoder and DiT-DH: reconstructions, class grid, FD-fmnist")
    shipped = _shipped(out, args.n, args.cfg)
    print(f"== 2/3 train a fresh DiT-DH-XS for {args.train_steps} steps on the same latents")
    fresh = _fresh(out, args.train_steps)
    print("== 3/3 report")
    print(f"report: {_report(out, shipped, fresh)}")


if __name__ == "__main__":
    main()
