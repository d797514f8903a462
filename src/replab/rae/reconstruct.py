"""``replab rae reconstruct``: reconstruct the test split; PSNR, SSIM, reconstruction Fréchet distance."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from replab.core.data import load_images
from replab.core.images import save_grid
from replab.core.paths import job_output
from replab.core.run import Run
from replab.metrics.features import FEATURE_LABEL, extract_features, load_feature_net
from replab.metrics.frechet import frechet_from_features
from replab.metrics.image import psnr, ssim
from replab.rae.model import load_rae


@torch.no_grad()
def reconstruct(
    run_folder: str | Path,
    out: str | Path | None = None,
    n: int | None = None,
    grid: int = 16,
    batch_size: int = 250,
    eval_folder: str | Path | None = None,
) -> dict:
    rae, config = load_rae(run_folder)
    test = load_images(config.data, "test")
    count = min(n or len(test), len(test))
    eval_folder = Path(eval_folder or job_output(run_folder, "reconstruct"))
    with Run(
        eval_folder, {"rae_run": str(run_folder), "n": count}, kind="rae-reconstruct", mutable=("n", "rae_run")
    ) as run:
        originals = test.float(slice(0, count))
        bar = run.progress(count, unit="img", desc="reconstruct")
        parts = []
        with run.phase("eval"):
            for start in range(0, count, batch_size):
                parts.append(rae.decode(rae.encode(originals[start : start + batch_size])))
                bar.update(len(parts[-1]))
            bar.close()
            recons = torch.cat(parts)
            run.add_units("images", count)
            feature_net, info = load_feature_net()
            rfd = frechet_from_features(extract_features(feature_net, originals), extract_features(feature_net, recons))
        results = {
            "images": count,
            "split": test.name,
            "psnr_db": psnr(recons, originals).mean().item(),
            "ssim": ssim(recons, originals).mean().item(),
            f"r{FEATURE_LABEL}": rfd,
            "features": f"{FEATURE_LABEL} (replab's Fashion-MNIST classifier, not Inception: not comparable to rFID)",
        }
        run.log(None, **results)
        (run.artifacts / "reconstruction.json").write_text(json.dumps(results, indent=1))
        shown = min(grid, count)
        columns = max(1, min(8, shown))
        rows = []
        for start in range(0, shown, columns):
            rows += [originals[start : start + columns], recons[start : start + columns]]
        grid_path = save_grid(rows, out or run.artifacts / "recon.png", scale=4 if originals.shape[-1] <= 64 else 1)
    print(f"reconstruction of {count} {test.name} images by {run_folder}:")
    print(f"  PSNR {results['psnr_db']:.2f} dB   SSIM {results['ssim']:.4f}   r{FEATURE_LABEL} {rfd:.3f}")
    print(f"  grid (originals above reconstructions): {grid_path}")
    results["grid"] = str(grid_path)
    return results
