"""Is the audit honest? A pseudo-generator with a known truth: real Fashion-MNIST *test* images drawn so that a
share p* of them is dark (by the exact pixel rule), N per replicate, 200 replicates; the probe (trained on
the training split, its errors measured on a held-out tenth of it) predicts the tone of each. For the raw
share of predicted-dark images (Wilson interval) and for the error-corrected estimate (confusion inversion
with a joint bootstrap over the N samples and the probe's held-out pairs): bias and 95 % coverage.

    replab fairness probe --preset tone --rae runs/rae --out runs/probe-tone
    .venv/bin/python benchmarks/fairness_audit_validity.py --rae runs/rae --probe runs/probe-tone
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from replab.core.config import from_dict
from replab.core.data import load_images
from replab.core.run import Run
from replab.diffusion.latents import load_or_encode
from replab.fairness.attributes import ToneRule
from replab.fairness.probe import held_out_pairs, load_probe, predict
from replab.metrics.fairness import corrected_interval, wilson_interval
from replab.rae.model import RAEConfig


def pools(rae: str, probe_dir: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """Oracle tone (0 dark, 1 light) and probe predictions for every test image, and the probe's record."""
    probe, info = load_probe(probe_dir, rae)
    config = from_dict(RAEConfig, {k: v for k, v in Run.read_config(rae).items() if k != "kind"}, "rae")
    test = load_images(config.data, "test")
    oracle = ToneRule(info["tone_thresholds"]).groups(test.float(), test.labels).numpy()
    latents, _ = load_or_encode(rae, "test")
    return oracle, predict(probe, latents).numpy(), info


def replicate(oracle, predicted, val, p_star, n, rng, n_boot) -> tuple[float, bool, float, bool, float]:
    dark_pool, light_pool = np.flatnonzero(oracle == 0), np.flatnonzero(oracle == 1)
    n_dark = rng.binomial(n, p_star)
    pick = np.concatenate(
        [rng.choice(dark_pool, n_dark, replace=False), rng.choice(light_pool, n - n_dark, replace=False)]
    )
    raw = float((predicted[pick] == 0).mean())
    low, high = wilson_interval(int((predicted[pick] == 0).sum()), n)
    out = corrected_interval(predicted[pick], *val, k=2, n_boot=n_boot, seed=int(rng.integers(1 << 31)))
    est, c_low, c_high = out["estimate"][0], out["low"][0], out["high"][0]
    return raw - p_star, low <= p_star <= high, est - p_star, c_low <= p_star <= c_high, c_high - c_low


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rae", required=True)
    parser.add_argument("--probe", required=True)
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--n-boot", type=int, default=400)
    parser.add_argument("--out", default=None, help="write the table as JSON here")
    args = parser.parse_args()
    start = time.time()
    oracle, predicted, info = pools(args.rae, args.probe)
    val = held_out_pairs(info)
    print(
        f"probe held-out accuracy {info['held_out_accuracy']:.4f}; confusion {np.round(info['confusion'], 4).tolist()}"
    )
    print(f"test pool: {len(oracle)} images, {int((oracle == 0).sum())} dark by the pixel rule; probe accuracy on them "
          f"{(predicted == oracle).mean():.4f}")  # fmt: skip
    rng = np.random.default_rng(0)
    rows = []
    print("| p* | N | raw bias | raw 95 % coverage | corrected bias | corrected 95 % coverage | mean CI width |")
    print("|---|---|---|---|---|---|---|")
    for p_star in (0.05, 0.1, 0.25, 0.5):
        for n in (500, 2000):
            reps = np.array(
                [replicate(oracle, predicted, val, p_star, n, rng, args.n_boot) for _ in range(args.replicates)]
            )
            row = {"p_star": p_star, "n": n, "raw_bias": reps[:, 0].mean(), "raw_coverage": reps[:, 1].mean(),
                   "corrected_bias": reps[:, 2].mean(), "corrected_coverage": reps[:, 3].mean(),
                   "ci_width": reps[:, 4].mean()}  # fmt: skip
            rows.append(row)
            cells = [
                p_star,
                n,
                f"{row['raw_bias']:+.4f}",
                f"{row['raw_coverage']:.3f}",
                f"{row['corrected_bias']:+.4f}",
                f"{row['corrected_coverage']:.3f}",
                f"{row['ci_width']:.4f}",
            ]
            print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)
    print(
        f"{args.replicates} replicates per row, {args.n_boot} joint bootstrap draws each; {time.time() - start:.0f} s"
    )
    if args.out:
        Path(args.out).write_text(json.dumps({"rows": rows, "probe": args.probe, "rae": args.rae}, indent=1))


if __name__ == "__main__":
    main()
