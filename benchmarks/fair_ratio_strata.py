"""Where does density-ratio resampling's correction come from: the tone inside each class, or the class mix?

`--fair ratio` keeps a candidate with probability min(r, cap)/cap, r the density ratio to a balanced real
reference set. On a class-conditional generator the kept samples' classes drift from the drawn 1/10 each. This
benchmark takes two batches of class-cycled candidates drawn exactly as `--fair ratio` draws them, fits the ratio
on one and judges (pixel-rule auditor) on the other, both ways, and compares

- **global**: the shipped rule (one cap over all candidates);
- **global, equal quotas**: the same weights, but every class keeps the same number (the class mix kept);
- **per class**: the same ratio, capped inside each class, equal class quotas;

and splits the global rule's aggregate dark share into a class-mix part (the kept class shares times each
class's raw dark share) and a within-class part (each class's kept dark share, classes weighted equally).

    .venv/bin/python benchmarks/fair_ratio_strata.py --run runs/fair/dit-tone10x \
        --probe runs/fair/probe-tone-recon --pool runs/fair/ratio-pool
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import torch

from replab.diffusion.sample import generate, load_diffusion, resolve_rae
from replab.fairness.auditor import auditor_groups, reference_images
from replab.fairness.mitigate import fit_density_ratio, pooled_features
from replab.fairness.probe import load_probe
from replab.fairness.sample import class_cycle


def candidate_pool(run: str, pool: Path, batches: int, size: int, seed: int) -> list[dict]:
    """Candidate batches as `--fair ratio` draws them (class-cycled, seed + 1000·index), cached in ``pool``."""
    model, config, rae = load_diffusion(run)
    pool.mkdir(parents=True, exist_ok=True)
    out = []
    for index in range(batches):
        path = pool / f"batch{index}.pt"
        if not path.exists():
            labels = class_cycle(model, size, index * size)
            images = generate(model, rae, config, n=size, labels=labels, guidance=config.sample, weak_model=None,
                              seed=seed + 1000 * index)  # fmt: skip
            with torch.no_grad():
                torch.save({"images": images, "labels": labels, "latents": rae.encode(images)}, path)
        out.append(torch.load(path))
    return out


def judge(ratio_fit, ratio_test, labels_fit, labels_test, dark_test, q: float, rule: str) -> dict:
    classes = np.unique(labels_test)
    if rule == "per class":
        caps = {c: np.quantile(ratio_fit[labels_fit == c], q) for c in classes}
        cap = np.array([caps[c] for c in labels_test])
    else:
        cap = np.quantile(ratio_fit, q)
    w = np.minimum(ratio_test, cap) / cap
    inside = np.array([(w * dark_test)[labels_test == c].sum() / w[labels_test == c].sum() for c in classes])
    mix = np.array([w[labels_test == c].sum() for c in classes]) / w.sum()
    raw = np.array([dark_test[labels_test == c].mean() for c in classes])
    draws = np.array([1 / w[labels_test == c].mean() for c in classes])
    if rule != "global":  # equal class quotas: class c costs 1 / (its mean keep probability) draws per kept
        return {"dark": inside.mean(), "draws": draws.mean(), "mix_min": 0.1, "mix_max": 0.1,
                "mix_part": raw.mean(), "within_part": inside.mean()}  # fmt: skip
    return {"dark": float((w * dark_test).sum() / w.sum()), "draws": float(1 / w.mean()), "mix_min": mix.min(),
            "mix_max": mix.max(), "mix_part": float(mix @ raw), "within_part": inside.mean()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--probe", required=True, help="only for the tone thresholds the auditor reads")
    parser.add_argument("--pool", required=True, help="cache folder for the candidate batches")
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--reference-n", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    _, config, rae = load_diffusion(args.run)
    rae_run = resolve_rae(config.rae, Path(args.run))
    _, info = load_probe(args.probe, rae_run)
    batches = candidate_pool(args.run, Path(args.pool), 2, args.size, args.seed)
    reference, _ = reference_images("tone", info, rae_run, np.array([0.5, 0.5]), args.reference_n, args.seed)
    with torch.no_grad():
        ref_features = pooled_features(torch.cat([rae.encode(reference[i : i + 500])
                                                  for i in range(0, len(reference), 500)]))  # fmt: skip
    features = [pooled_features(b["latents"]) for b in batches]
    labels = [b["labels"].numpy() for b in batches]
    dark = [(auditor_groups("tone", b["images"], b["labels"], info) == 0).astype(float) for b in batches]
    raw = np.mean([d.mean() for d in dark])
    print(f"raw dark share {raw:.3f} (fairness discrepancy {abs(raw - 0.5) * 2**0.5:.3f})")
    for i, (d, lab) in enumerate(zip(dark, labels)):
        print(f"batch {i} raw dark per class:", " ".join(f"{d[lab == c].mean():.2f}" for c in np.unique(lab)))
    print("| rule | l2 | cap quantile | dark share | fairness discrepancy | draws / kept | kept class share min–max "
          "| class-mix part | within-class part |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for rule, l2, q in itertools.product(("global", "global, equal quotas", "per class"), (1e-3, 1e-2), (0.98, 0.995)):
        rows = []
        for a, b in ((0, 1), (1, 0)):
            ratio = fit_density_ratio(features[a], ref_features, l2=l2)
            rows.append(judge(ratio(features[a]).numpy(), ratio(features[b]).numpy(), labels[a], labels[b], dark[b],
                              q, rule))  # fmt: skip
        m = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
        print(f"| {rule} | {l2:g} | {q} | {m['dark']:.3f} | "
              f"{abs(m['dark'] - 0.5) * 2**0.5:.3f} | {m['draws']:.1f} | {m['mix_min']:.3f}–{m['mix_max']:.3f} | "
              f"{m['mix_part']:.3f} | {m['within_part']:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
