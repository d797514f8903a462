"""Which density-ratio model moves the generator's tone furthest for the least FD-fmnist? A screen on cached candidates.

`--fair ratio --ratio-against training --ratio-class-quota` fits r on real images (the generator's training
images against a balanced reference) and keeps candidates with probability ∝ min(r, cap)^power. This benchmark
draws a pool of class-cycled candidates once (cached, as `--fair ratio` draws them), fits each ratio model on
the real images, and simulates the sampler on the pool many times: every candidate is accepted with its
probability, each class keeps ``--per-class`` of its accepted ones (all of them when fewer were accepted; the
shortfall is printed), and the kept set is graded by the pixel rule (dark share, fairness discrepancy against
50/50) and by FD-fmnist against the test split, divided by the FD-fmnist of a random set of the pool with the
same per-class counts (FD-fmnist depends on n; this ratio does not). The pool's figures are a screen: the
settings it picks are confirmed by fresh `replab fairness audit` runs on another seed.

    .venv/bin/python benchmarks/fair_ratio_models.py --run assets/runs/dit-dh-tone10x \
        --probe assets/probes/tone --pool runs/fair/ratio-pool-7 --batches 6 --seed 7
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from fair_ratio_strata import candidate_pool  # the same cached candidate batches (run from the repository root)
from replab.core.config import from_dict
from replab.core.data import DataConfig, load_images
from replab.core.run import Run
from replab.diffusion.sample import load_diffusion, resolve_rae
from replab.fairness.auditor import auditor_groups, reference_images, training_images
from replab.fairness.density_ratio import fit_log_density_ratio, fit_mixture_log_ratio
from replab.fairness.mitigate import matching_power, pooled_features
from replab.fairness.probe import load_probe
from replab.metrics.features import extract_features, load_feature_net
from replab.metrics.frechet import frechet_from_features


def _encode(rae, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([rae.encode(images[i : i + 500]) for i in range(0, len(images), 500)])


class Pool:
    """The candidates' classes, pixel-rule tone and FD-fmnist features, and the test split's features."""

    def __init__(self, labels: np.ndarray, dark: np.ndarray, features: np.ndarray, test: np.ndarray) -> None:
        self.labels, self.dark, self.features, self.test = labels, dark, features, test
        self.classes = int(labels.max()) + 1

    def simulate(self, accept: np.ndarray, per_class: int, reps: int, rng: np.random.Generator) -> dict:
        darks, ratios, short = [], [], 0
        for _ in range(reps):
            kept = rng.random(len(accept)) < accept
            picks, same = [], []
            for c in range(self.classes):
                mine = np.flatnonzero(self.labels == c)
                chosen = rng.permutation(mine[kept[mine]])[:per_class]
                short += per_class - len(chosen)
                picks.append(chosen)
                same.append(rng.permutation(mine)[: len(chosen)])
            picks, same = np.concatenate(picks), np.concatenate(same)
            darks.append(self.dark[picks].mean())
            ratios.append(frechet_from_features(self.test, self.features[picks])
                          / frechet_from_features(self.test, self.features[same]))  # fmt: skip
        draws = np.mean([1 / max(accept[self.labels == c].mean(), 1e-12) for c in range(self.classes)])
        dark = float(np.mean(darks))
        return {"dark": dark, "discrepancy": abs(dark - 0.5) * 2**0.5, "fd_ratio": float(np.mean(ratios)),
                "fd_ratio_sd": float(np.std(ratios)), "draws": float(draws), "short": short / reps}  # fmt: skip


def oracle_accept(pool: Pool) -> np.ndarray:
    """Keep-probabilities that make every class 50/50 dark by the pixel rule itself: the FD-fmnist of a perfect
    tone correction with the class mix held, the floor any label-free rule is compared with."""
    accept = np.ones(len(pool.labels))
    for c in range(pool.classes):
        mine = pool.labels == c
        share = pool.dark[mine].mean()
        minority = pool.dark == (share < 0.5)
        accept[mine & ~minority] = min(share, 1 - share) / max(share, 1 - share)
    return accept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--probe", required=True, help="only for the tone thresholds the auditor reads")
    parser.add_argument("--pool", required=True, help="cache folder for the candidate batches")
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-class", type=int, default=50)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--cap", type=float, default=0.98)
    parser.add_argument("--reference-n", type=int, default=500, help="the balanced real reference set's size")
    parser.add_argument("--fit-seed", type=int, default=None,
                        help="seed of the reference and training draws for the fits (default --seed)")  # fmt: skip
    args = parser.parse_args()
    model, config, rae = load_diffusion(args.run)
    rae_run = resolve_rae(config.rae, Path(args.run))
    _, info = load_probe(args.probe, rae_run)
    batches = candidate_pool(args.run, Path(args.pool), args.batches, args.size, args.seed)
    labels = torch.cat([b["labels"] for b in batches])
    latents = pooled_features(torch.cat([b["latents"] for b in batches]))
    images = torch.cat([b["images"] for b in batches])
    net, _ = load_feature_net()
    test = load_images(from_dict(DataConfig, Run.read_config(rae_run)["data"], "rae config.yaml:data"), "test")
    dark = (auditor_groups("tone", images, labels, info) == 0).astype(float)
    pool = Pool(labels.numpy(), dark, extract_features(net, images), extract_features(net, test.float()))
    target = np.array([0.5, 0.5])
    fit_seed = args.seed if args.fit_seed is None else args.fit_seed
    reference, reference_classes = reference_images("tone", info, rae_run, target, args.reference_n, fit_seed)
    training, training_classes = training_images(config, rae_run, Path(args.run), 5000, fit_seed)
    reference, training = pooled_features(_encode(rae, reference)), pooled_features(_encode(rae, training))
    print(f"{len(labels)} candidates (seed {args.seed}), raw dark share {dark.mean():.3f}; ratios fitted on "
          f"{args.reference_n} reference and 5,000 training images of seed {fit_seed}; kept {args.per_class} per "
          f"class, {args.reps} simulated runs each\n")  # fmt: skip
    print("| ratio model | l2 | power | dark share | fairness discrepancy | FD-fmnist / random, same n (sd) "
          "| draws / kept | short per run |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(args.seed)
    rows = [("none", 0.0, 0.0, pool.simulate(np.ones(len(labels)), args.per_class, args.reps, rng)),
            ("oracle tone, 50/50 in each class", 0.0, 0.0, pool.simulate(oracle_accept(pool), args.per_class,
                                                                          args.reps, rng))]  # fmt: skip
    fits = [("logistic", 1e-2, fit_log_density_ratio(training, reference, l2=1e-2), (1.0, 1.5, "auto"))]
    for l2 in (1e-4, 1e-3):
        fits.append(("mixture", l2, fit_mixture_log_ratio(training, reference, target, training_classes,
                                                          reference_classes, model.num_classes, l2=l2),
                     (1.0, 1.25, 1.5, "auto")))  # fmt: skip
    for name, l2, log_ratio, powers in fits:
        score = log_ratio(latents, labels).numpy()
        ceiling = float(np.quantile(score, args.cap))
        reference_score = float(log_ratio(reference, reference_classes).mean())
        for power in powers:
            p = matching_power(score, reference_score, ceiling, labels.numpy()) if power == "auto" else power
            accept = np.exp(p * (np.minimum(score, ceiling) - ceiling))
            rows.append((name, l2, p, pool.simulate(accept, args.per_class, args.reps, rng)))
        if name == "mixture":
            print(f"<!-- mixture l2 {l2:g}: the training images' estimated latent shares "
                  f"{np.round(log_ratio.shares.numpy(), 3).tolist()} -->")  # fmt: skip
    for name, l2, p, r in rows:
        print(f"| {name} | {l2:g} | {p:.2f} | {r['dark']:.3f} | {r['discrepancy']:.3f} | {r['fd_ratio']:.3f} "
              f"({r['fd_ratio_sd']:.3f}) | {r['draws']:.1f} | {r['short']:.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
