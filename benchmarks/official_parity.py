"""Official parity: replab's ``official-rae`` DiT-DH, LightningDiT, decoder and sampler against the official
RAE code itself (github.com/bytetriper/RAE), at the same weights and inputs; and the training-step time.

    git clone https://github.com/bytetriper/RAE /path/RAE         # any checkout of the official code
    pip install --target /tmp/official-deps --no-deps einops torchdiffeq   # the official code's own imports
    PYTHONPATH=/tmp/official-deps .venv/bin/python benchmarks/official_parity.py --official /path/RAE [--time]

Weights are random (no hub here) and every parameter is perturbed away from its initialisation (the
official init zeroes the output layers, which would make outputs trivially equal). Weights go both
ways: official → replab through ``load_official`` and replab → official through ``to_official`` into
the official module's own strict ``load_state_dict``. timm, which the official modules import, is
replaced by benchmarks/official_shim when it is not installed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from replab.diffusion.models import build_dit
from replab.diffusion.official import load_official, to_official
from replab.diffusion.samplers import GuidanceConfig, euler, guided_velocity
from replab.diffusion.transport import Transport, TransportConfig
from replab.rae.decoder import ViTDecoder
from replab.rae.official import decoder_to_official, load_official_decoder

DH_S = dict(input_size=16, patch_size=1, in_channels=768, hidden_size=[384, 2048], depth=[12, 2], num_heads=[6, 16],
            mlp_ratio=4.0, class_dropout_prob=0.1, num_classes=1000, use_qknorm=False, use_swiglu=True, use_rope=True,
            use_rmsnorm=True, wo_shift=False, use_pos_embed=True)  # fmt: skip
TINY = {**DH_S, "input_size": 16, "in_channels": 64, "hidden_size": [64, 128], "depth": [2, 2], "num_heads": [2, 2],
        "num_classes": 10}  # fmt: skip


def official_modules(root: Path):
    try:
        import timm  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parent / "official_shim"))
    sys.path.insert(0, str(root / "src"))
    from stage1.decoders.decoder import GeneralDecoder
    from stage1.decoders.utils import ViTMAEConfig
    from stage2.models.DDT import DiTwDDTHead
    from stage2.models.lightningDiT import LightningDiT
    from stage2.transport import Sampler, create_transport

    return DiTwDDTHead, LightningDiT, GeneralDecoder, ViTMAEConfig, create_transport, Sampler


@torch.no_grad()
def perturb(module: torch.nn.Module, seed: int, regime: str = "normal-0.02") -> None:
    """Move every trainable weight off its initialisation (the official init zeroes the output layers, so
    outputs would otherwise be 0 = 0). ``normal-0.02``: every weight N(0, 0.02²), norm scales 1 + that.
    ``fan-in``: matrices N(0, 1/fan_in) added, vectors N(0, 0.02²), norm scales N(0, 0.1²) — the 2048-wide
    head's activations then reach ~90, where fp32 rounding alone differs by ~2e-5 (the official code in
    fp32 against itself in fp64, measured)."""
    g = torch.Generator().manual_seed(seed)
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        if regime == "normal-0.02":
            p.copy_(torch.randn(p.shape, generator=g) * 0.02 + (1.0 if "norm" in name else 0.0))
        else:
            scale = p[0].numel() ** -0.5 if p.ndim > 1 else (0.1 if "norm" in name else 0.02)
            p.add_(torch.randn(p.shape, generator=g) * scale)


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().max().item()


def replab_dit(cfg: dict, dh: bool = True):
    grid, channels = cfg["input_size"], cfg["in_channels"]
    name = (
        {(384, 12, 6, 2048, 2, 16): "DiT-DH-S", (64, 2, 2, 128, 2, 2): "DiT-DH-tiny"}.get(
            (
                *[cfg["hidden_size"][0], cfg["depth"][0], cfg["num_heads"][0]],
                *[cfg["hidden_size"][1], cfg["depth"][1], cfg["num_heads"][1]],
            )
        )
        if dh
        else {1152: "DiT-XL", 384: "DiT-S", 64: "DiT-tiny"}[cfg["hidden_size"]]
    )
    return build_dit(
        name, channels, grid, cfg["num_classes"], style="official-rae", label_dropout=cfg["class_dropout_prob"]
    )


@torch.no_grad()
def dit_parity(official_cls, cfg: dict, dh: bool, batch: int = 4, regime: str = "normal-0.02") -> dict:
    torch.manual_seed(0)
    theirs = official_cls(**cfg)
    perturb(theirs, 1, regime)
    ours = replab_dit(cfg, dh)
    load_official(ours, theirs.state_dict(), "official")  # official → replab
    back = official_cls(**cfg)
    back.load_state_dict(to_official(ours), strict=True)  # replab → official, strict
    theirs.eval(), ours.eval(), back.eval()
    g = torch.Generator().manual_seed(2)
    x = torch.randn(batch, cfg["in_channels"], cfg["input_size"], cfg["input_size"], generator=g)
    t = torch.rand(batch, generator=g)
    y = torch.randint(0, cfg["num_classes"], (batch,), generator=g)
    ref = theirs(x, t, y)
    out = {"max_abs_forward": max_abs(ours(x, t, y), ref), "max_abs_roundtrip": max_abs(back(x, t, y), ref),
           "output_scale": ref.abs().max().item()}  # fmt: skip
    if regime == "fan-in":  # the floor: the official module in fp32 against itself in fp64
        wide = official_cls(**cfg).double()
        wide.load_state_dict(theirs.state_dict())
        out["official_fp32_vs_fp64"] = max_abs(ref.double(), wide.eval()(x.double(), t.double(), y))
    if dh:  # CFG over an interval, as forward_with_cfg computes it (a batch of [cond, uncond])
        null = torch.full_like(y, cfg["num_classes"])
        for tt in (0.2, 0.8):
            tv = torch.full((batch,), tt)
            official = theirs.forward_with_cfg(
                torch.cat([x, x]), torch.cat([tv, tv]), torch.cat([y, null]), 4.0, (0.5, 1.0)
            )
            v = guided_velocity(
                ours,
                y,
                GuidanceConfig(cfg_scale=4.0, cfg_interval=(0.5, 1.0), exact=True),
                null_label=cfg["num_classes"],
            )(x, tt)
            out[f"max_abs_cfg_t{tt}"] = max_abs(v, official[:batch])
    return out


@torch.no_grad()
def decoder_parity(decoder_cls, config_cls, root: Path, size: str, batch: int = 2) -> dict:
    config = config_cls.from_pretrained(str(root / "configs" / "decoder" / f"ViT{size}"))
    config.hidden_size, config.patch_size, config.image_size = 768, 16, 256  # as RAE sets it for DINOv2-B
    theirs = decoder_cls(config, num_patches=256)
    perturb(theirs, 3)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    ours = ViTDecoder(768, 16, 16, 3, size, "official-rae", config.decoder_intermediate_size, mean, std)
    load_official_decoder(ours, theirs.state_dict(), "official")
    back = decoder_cls(config, num_patches=256)
    missing = back.load_state_dict(decoder_to_official(ours), strict=True)
    theirs.eval(), ours.eval(), back.eval()
    z = torch.randn(batch, 768, 16, 16, generator=torch.Generator().manual_seed(4))
    tokens = z.flatten(2).transpose(1, 2)
    ref = theirs.unpatchify(theirs(tokens).logits)
    pixels_ref = ref * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1)  # RAE.decode
    pixels = ours(z) * 0.5 + 0.5
    return {
        "max_abs_logits": max_abs(ours.logits(z), theirs(tokens).logits),
        "max_abs_pixels": max_abs(pixels, pixels_ref),
        "max_abs_roundtrip": max_abs(back.unpatchify(back(tokens).logits), ref),
        "strict": not missing.missing_keys,
        "output_scale": ref.abs().max().item(),
    }


@torch.no_grad()
def sampler_parity(official_cls, create_transport, sampler_cls, cfg: dict, steps: int = 50) -> dict:
    torch.manual_seed(0)
    theirs = official_cls(**cfg).eval()
    perturb(theirs, 5)
    ours = replab_dit(cfg).eval()
    load_official(ours, theirs.state_dict(), "official")
    shape = (cfg["in_channels"], cfg["input_size"], cfg["input_size"])
    shift = math.sqrt(math.prod(shape) / 4096)
    sample = sampler_cls(create_transport("Linear", "velocity", time_dist_shift=shift)).sample_ode(
        sampling_method="euler", num_steps=steps)  # fmt: skip
    g = torch.Generator().manual_seed(6)
    z, y = torch.randn(4, *shape, generator=g), torch.randint(0, cfg["num_classes"], (4,), generator=g)
    null = torch.full_like(y, cfg["num_classes"])
    official = sample(torch.cat([z, z]), theirs.forward_with_cfg, y=torch.cat([y, null]), cfg_scale=3.0,
                      cfg_interval=(0.1, 1.0))[-1][:4]  # fmt: skip
    transport = Transport(TransportConfig(), shape)
    guidance = GuidanceConfig(cfg_scale=3.0, cfg_interval=(0.1, 1.0), steps=steps, schedule="official-rae", exact=True)
    grid = transport.grid(steps, schedule="official-rae")
    mine = euler(guided_velocity(ours, y, guidance, null_label=cfg["num_classes"]), z, grid)
    return {"max_abs_samples": max_abs(mine, official), "sample_scale": official.abs().max().item(),
            "grid_first_last": [grid[0].item(), grid[-1].item()], "ode_steps": len(grid) - 1}  # fmt: skip


def training_parity(official_cls, cfg: dict, batch: int = 8, steps: int = 7) -> dict:
    """The same official init (converted), batch, times and noise, 7 fused-AdamW steps each: the losses."""
    from replab.core.train import TrainConfig, adamw

    torch.manual_seed(0)
    theirs = official_cls(**cfg).eval()  # eval: no label dropout, so both see the same labels
    ours = replab_dit(cfg)
    load_official(ours, theirs.state_dict(), "official")
    ours.eval()
    shape = (cfg["in_channels"], cfg["input_size"], cfg["input_size"])
    g = torch.Generator().manual_seed(8)
    x, noise = torch.randn(batch, *shape, generator=g), torch.randn(batch, *shape, generator=g)
    t, y = torch.rand(batch, generator=g), torch.randint(0, cfg["num_classes"], (batch,), generator=g)
    x_t, target = t.view(-1, 1, 1, 1) * noise + (1 - t.view(-1, 1, 1, 1)) * x, noise - x  # the official path
    hyper = dict(lr=2e-4, betas=(0.9, 0.95), weight_decay=0.0)
    opts = [torch.optim.AdamW(theirs.parameters(), **hyper, fused=True), adamw(ours.parameters(), TrainConfig(**hyper))]
    losses: dict[str, list[float]] = {"official": [], "replab": []}
    for _ in range(steps):
        for name, model, opt in (("official", theirs, opts[0]), ("replab", ours, opts[1])):
            loss = (model(x_t, t, y) - target).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses[name].append(loss.item())
    weights = max(
        max_abs(a, b) for a, b in zip(to_official(ours).values(), [theirs.state_dict()[k] for k in to_official(ours)])
    )
    return {
        "official_losses": [round(v, 4) for v in losses["official"]],
        "replab_losses": [round(v, 4) for v in losses["replab"]],
        "max_abs_loss": max(abs(a - b) for a, b in zip(losses["official"], losses["replab"])),
        "max_abs_weights_after": weights,
    }


def step_times(official_cls, create_transport, cfg: dict, batch: int, steps: int, compiled: bool = False) -> dict:
    """Alternated training steps, fused AdamW both; ``compiled``: replab's model under torch.compile, as
    ``train.compile=true`` runs it (the official model stays eager, as its trainer runs it by default)."""
    from replab.core.train import TrainConfig, adamw

    torch.manual_seed(0)
    theirs = official_cls(**cfg).train()
    model = replab_dit(cfg).train()
    ours = torch.compile(model) if compiled else model
    shape = (cfg["in_channels"], cfg["input_size"], cfg["input_size"])
    shift = math.sqrt(math.prod(shape) / 4096)
    official_transport = create_transport(
        "Linear", "velocity", time_dist_type="logit-normal_0_1", time_dist_shift=shift
    )
    transport = Transport(TransportConfig(), shape)
    # the official optimizer (utils/optim_utils.py): AdamW(fused=True), betas (0.9, 0.95), weight decay 0
    opt_theirs = torch.optim.AdamW(theirs.parameters(), lr=2e-4, betas=(0.9, 0.95), weight_decay=0.0, fused=True)
    opt_ours = adamw(model.parameters(), TrainConfig(lr=2e-4, betas=(0.9, 0.95), weight_decay=0.0))
    g = torch.Generator().manual_seed(7)
    x, y = torch.randn(batch, *shape, generator=g), torch.randint(0, cfg["num_classes"], (batch,), generator=g)

    def official_step() -> None:
        loss = official_transport.training_losses(theirs, x, dict(y=y))["loss"].mean()
        opt_theirs.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(theirs.parameters(), 1.0)
        opt_theirs.step()

    def replab_step() -> None:
        t, noise = transport.sample_t(batch, g), torch.randn(x.shape, generator=g)
        drop = torch.rand(batch, generator=g) < 0.1
        loss = transport.loss(ours, x, y, t, noise, drop_labels=drop)
        opt_ours.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt_ours.step()

    times: dict[str, list[float]] = {"official": [], "replab": []}
    for i in range(steps + 2):  # alternated, so that load on the machine falls on both alike; 2 warm-up rounds
        for name, step in (("official", official_step), ("replab", replab_step)):
            start = time.perf_counter()
            step()
            if i >= 2:
                times[name].append(time.perf_counter() - start)
    ratios = [r / o for r, o in zip(times["replab"], times["official"])]
    return {
        "official_s": statistics.median(times["official"]),
        "replab_s": statistics.median(times["replab"]),
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "batch": batch,
        "steps": steps,
        "threads": torch.get_num_threads(),
        "optimizer": "AdamW fused, both",
        "replab_compiled": compiled,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", required=True, help="a checkout of github.com/bytetriper/RAE")
    parser.add_argument("--time", action="store_true", help="also time the training step at DiT-DH-S")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--compile", action="store_true", help="replab's step under torch.compile")
    parser.add_argument("--only-time", action="store_true", help="skip the parity checks")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    DDT, Lightning, Decoder, MAEConfig, create_transport, Sampler = official_modules(Path(args.official))
    plain = {k: v for k, v in DH_S.items() if k not in ("hidden_size", "depth", "num_heads", "use_pos_embed")}
    checks = {
        "DiT-DH-S (DiTwDDTHead)": lambda: dit_parity(DDT, DH_S, dh=True),
        "DiT-DH-S (DiTwDDTHead), fan-in weights": lambda: dit_parity(DDT, DH_S, dh=True, regime="fan-in"),
        "DiT-S (LightningDiT)": lambda: dit_parity(
            Lightning, {**plain, "hidden_size": 384, "depth": 12, "num_heads": 6}, dh=False
        ),  # fmt: skip
        "decoder ViT-B": lambda: decoder_parity(Decoder, MAEConfig, Path(args.official), "B"),
        "decoder ViT-XL": lambda: decoder_parity(Decoder, MAEConfig, Path(args.official), "XL", batch=1),
        "sampler (Euler, 50 grid points, CFG 3 on [0.1, 1])": lambda: sampler_parity(
            DDT, create_transport, Sampler, TINY
        ),
    }
    checks["7 training steps DiT-DH-S (official init)"] = lambda: training_parity(DDT, DH_S)
    if args.only_time:
        checks = {}
    if args.time or args.only_time:
        name = "training step DiT-DH-S" + (", replab compiled" if args.compile else "")
        checks[name] = lambda: step_times(DDT, create_transport, DH_S, batch=8, steps=args.steps, compiled=args.compile)
    results = {}
    for name, check in checks.items():
        results[name] = figures = check()
        print(
            f"{name}: " + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()),
            flush=True,
        )
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    main()
