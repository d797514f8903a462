"""RAE paper claims 2–4, small, on Fashion-MNIST: FD-fmnist against training compute.

Five class-conditional flow-matching runs, each with the same training budget in FLOPs (forward +
backward, counted by ``torch.utils.flop_counter`` on one step), batch 64, AdamW 3e-4 β=(0.9, 0.95),
clip 1.0, EMA 0.999, label dropout 0.1; FD-fmnist of EMA samples (25 Euler steps, no guidance) against
the test split at four points of the budget:

- claim 2, the dimension shift: DiT-DH-XS in RAE space with the shift α = sqrt(49·128/4096) on
  training times and the sampling grid, and without it;
- claim 3, the latent space: the same DiT-DH-XS on RAE latents (7×7×128), on pixels as 7×7 tokens of
  4×4 patches (7×7×16), and on the latents of a plain convolutional VAE trained here (7×7×4);
- claim 4, the wide head: DiT-DH-XS (trunk 128×4 + head 256×2) against a plain DiT-XS (192×6).

Each finished run is saved as ``<out>/<run>.json`` and skipped when the script is run again, so runs
can be split over processes (``--only``) and resumed; the last call plots ``<out>/claims.png``.

    .venv/bin/python benchmarks/claims_fmnist.py --rae runs/rae --out runs/claims [--budget-steps 600]
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from replab.core.data import DataConfig, load_images
from replab.diffusion.codecs import PixelCodec, train_conv_vae
from replab.diffusion.latents import load_or_encode
from replab.diffusion.models import build_dit
from replab.diffusion.samplers import GuidanceConfig, euler, guided_velocity
from replab.diffusion.train import update_ema
from replab.diffusion.transport import Transport, TransportConfig
from replab.metrics.features import FEATURE_LABEL, classify_accuracy, extract_features, load_feature_net
from replab.metrics.frechet import frechet_from_features
from replab.rae.model import load_rae

RUNS = {
    "rae-dh": dict(space="rae", model="DiT-DH-XS", shift=True),
    "rae-dh-noshift": dict(space="rae", model="DiT-DH-XS", shift=False),
    "pixels-dh": dict(space="pixels", model="DiT-DH-XS", shift=True),
    "vae-dh": dict(space="vae", model="DiT-DH-XS", shift=True),
    "rae-dit": dict(space="rae", model="DiT-XS", shift=True),
}
BATCH, LR, WARMUP, LABEL_DROPOUT, EVAL_POINTS = 64, 3e-4, 100, 0.1, (0.25, 0.5, 0.75, 1.0)


def load_space(space: str, rae_run: str, out: Path, train_images: torch.Tensor):
    """(codec with encode/decode, standardised training latents) for one space."""
    if space == "rae":
        return load_rae(rae_run)[0], load_or_encode(rae_run, "train")[0]
    if space == "pixels":
        codec = PixelCodec(train_images.shape[1], train_images.shape[-1], patch=4)
        codec.fit_stats(torch.nn.functional.pixel_unshuffle(train_images, 4))
        return codec, codec.encode(train_images)
    path = out / "conv_vae.pt"
    if path.exists():
        vae = torch.load(path, weights_only=False)
    else:
        start = time.perf_counter()
        vae = train_conv_vae(train_images, log=lambda s, loss: print(f"  conv VAE step {s}: loss {loss:.2f}"))
        print(f"  conv VAE trained in {time.perf_counter() - start:.0f} s")
        torch.save(vae, path)
    return vae, torch.cat([vae.encode(train_images[i : i + 1000]) for i in range(0, len(train_images), 1000)])


def step_flops(model, transport, latents: torch.Tensor) -> int:
    x, y = latents[:BATCH], torch.zeros(BATCH, dtype=torch.long)
    with FlopCounterMode(display=False) as counter:
        transport.loss(model, x, y, torch.rand(BATCH), torch.randn_like(x)).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


@torch.no_grad()
def evaluate(ema, codec, transport, net, real_features, n: int, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % ema.num_classes
    images = []
    for start in range(0, n, 250):
        y = labels[start : start + 250]
        noise = torch.randn((len(y), *codec.latent_shape), generator=generator)
        velocity = guided_velocity(ema, y, GuidanceConfig(), None, ema.null_label)
        images.append(codec.decode(euler(velocity, noise, transport.grid(25))))
    images = torch.cat(images)
    return {"fd": frechet_from_features(real_features, extract_features(net, images)),
            "class_accuracy": classify_accuracy(net, images, labels)}  # fmt: skip


def run_one(name: str, spec: dict, args, train, net, real_features) -> dict:
    torch.manual_seed(0)
    codec, latents = load_space(spec["space"], args.rae, Path(args.out), train.float())
    labels = train.labels
    model = build_dit(spec["model"], latents.shape[1], latents.shape[2], 10, label_init_std=1.0)
    ema = copy.deepcopy(model).requires_grad_(False).eval()
    transport = Transport(TransportConfig(shift=spec["shift"]), tuple(latents.shape[1:]))
    reference = build_dit("DiT-DH-XS", 128, 7, 10)
    budget = step_flops(reference, Transport(TransportConfig(), (128, 7, 7)), torch.randn(BATCH, 128, 7, 7))
    budget *= args.budget_steps
    flops = step_flops(model, transport, latents)
    steps = round(budget / flops)
    checkpoints = {max(1, round(f * steps)) for f in EVAL_POINTS}
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, betas=(0.9, 0.95), weight_decay=0.0)
    generator = torch.Generator().manual_seed(1)
    curve, train_seconds = [], 0.0
    print(f"{name}: {spec}, latents {tuple(latents.shape[1:])}, {flops / 1e9:.2f} GFLOP/step, {steps} steps")
    for step in range(steps):
        tick = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = LR * min(1.0, (step + 1) / WARMUP)
        index = torch.randint(len(latents), (BATCH,), generator=generator)
        y = torch.where(torch.rand(BATCH, generator=generator) < LABEL_DROPOUT, model.null_label, labels[index])
        x = latents[index]
        loss = transport.loss(
            model, x, y, transport.sample_t(BATCH, generator), torch.randn(x.shape, generator=generator)
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        update_ema(ema, model, min(0.999, (1 + step) / (10 + step)))
        train_seconds += time.perf_counter() - tick
        if step + 1 in checkpoints:
            point = {"step": step + 1, "gflops": (step + 1) * flops / 1e9, "train_seconds": train_seconds,
                     "loss": loss.item(), **evaluate(ema, codec, transport, net, real_features, args.n)}  # fmt: skip
            print(f"  {json.dumps(point)}", flush=True)
            curve.append(point)
    return {"name": name, **spec, "latent_shape": list(latents.shape[1:]), "gflops_per_step": flops / 1e9,
            "steps": steps, "params_m": sum(p.numel() for p in model.parameters()) / 1e6, "curve": curve}  # fmt: skip


def plot(results: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("claim 2: dimension shift", ["rae-dh", "rae-dh-noshift"]),
              ("claim 3: latent space", ["rae-dh", "pixels-dh", "vae-dh"]),
              ("claim 4: wide head", ["rae-dh", "rae-dit"])]  # fmt: skip
    by_name = {r["name"]: r for r in results}
    fig, axes = plt.subplots(1, 3, figsize=(14, 4), sharey=True)
    for ax, (title, names) in zip(axes, panels):
        for name in names:
            if name in by_name:
                curve = by_name[name]["curve"]
                ax.plot([p["gflops"] / 1e3 for p in curve], [p["fd"] for p in curve], "o-", label=name)
        ax.set(title=title, xlabel="training compute (TFLOP)", yscale="log")
        ax.legend()
    axes[0].set_ylabel(f"{FEATURE_LABEL} (lower is better)")
    fig.tight_layout()
    fig.savefig(out / "claims.png", dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rae", default="src/replab/assets/runs/rae-fmnist")
    parser.add_argument("--out", default="runs/claims")
    parser.add_argument("--budget-steps", type=int, default=600, help="budget = this many DiT-DH-XS steps")
    parser.add_argument("--n", type=int, default=500, help="samples per FD point")
    parser.add_argument("--only", default="", help="comma-separated run names (default: all)")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train, test = load_images(DataConfig(), "train"), load_images(DataConfig(), "test")
    net, _ = load_feature_net()
    real_features = extract_features(net, test.float())
    for name in args.only.split(",") if args.only else RUNS:
        path = out / f"{name}.json"
        if not path.exists():
            path.write_text(json.dumps(run_one(name, RUNS[name], args, train, net, real_features), indent=1))
    results = [json.loads((out / f"{n}.json").read_text()) for n in RUNS if (out / f"{n}.json").exists()]
    plot(results, out)
    print(f"\n{'run':<16} {'latents':<12} {'GFLOP/step':>10} {'steps':>6}  FD-fmnist at 25/50/75/100 % of the budget")
    for r in results:
        fds = " / ".join(f"{p['fd']:.1f}" for p in r["curve"])
        shape = "×".join(map(str, r["latent_shape"]))
        print(f"{r['name']:<16} {shape:<12} {r['gflops_per_step']:>10.2f} {r['steps']:>6}  {fds}")


if __name__ == "__main__":
    main()
