"""One command for a GPU machine (no hub needed: random weights of the right shapes), ≤ 8 minutes on one GPU:

- DiT-DH-S and DiT-DH-XL training steps in the official configuration (official-rae style, 16×16×768
  DINOv2-B latents, 1000 classes, bf16 autocast, fp32 master weights, fused AdamW) at the largest batch
  that fits, with achieved TFLOP/s (counted by torch's FlopCounterMode) and MFU against the card's bf16 peak;
- DINOv2-B-shaped encoder throughput (224², bf16);
- a DiT-DH-XL step with online encoding of the batch vs from cached latents;
- sampling throughput: 50 Euler steps with CFG;
- energy per training step from NVML's energy counter (measured, not estimated).

    python benchmarks/gpu_check.py --out gpu_check.json          # on the GPU
    python benchmarks/gpu_check.py --dry                         # tiny sizes on the CPU (a test runs this)
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

# dense bf16 tensor-core peaks in TFLOP/s (vendor data sheets, without sparsity)
BF16_PEAK_TFLOPS = {
    "H200": 989.0, "H100 SXM": 989.0, "H100 80GB HBM3": 989.0, "H100 PCIe": 756.0, "H100 NVL": 835.0,
    "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0, "RTX 4090": 165.0, "RTX 6000 Ada": 364.0,
    "B200": 2250.0, "GH200": 989.0,
}  # fmt: skip

FULL = {"latent": (768, 16), "classes": 1000, "models": ("DiT-DH-S", "DiT-DH-XL"), "batches": (64, 128, 256, 512),
        "encoder": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                    "intermediate_size": 3072, "image_size": 224, "patch_size": 14, "num_register_tokens": 4},
        "encoder_batch": 256, "steps": 10, "sample_batch": 64, "sample_steps": 50}  # fmt: skip
DRY = {"latent": (16, 4), "classes": 10, "models": ("DiT-DH-tiny",), "batches": (4, 8),
       "encoder": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
                   "image_size": 56, "patch_size": 14, "num_register_tokens": 4},
       "encoder_batch": 4, "steps": 2, "sample_batch": 4, "sample_steps": 5}  # fmt: skip


def peak_tflops(name: str) -> float | None:
    for key, value in sorted(BF16_PEAK_TFLOPS.items(), key=lambda kv: -len(kv[0])):
        if key.lower() in name.lower():
            return value
    return None


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bf16(device: torch.device):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()


def build(name: str, sizes: dict, device: torch.device):
    from replab.diffusion.models import build_dit

    channels, grid = sizes["latent"]
    return build_dit(name, channels, grid, sizes["classes"], style="official-rae", label_dropout=0.1).to(device)


def train_step_fn(model, sizes: dict, batch: int, device: torch.device):
    from replab.core.train import TrainConfig, adamw
    from replab.diffusion.transport import Transport, TransportConfig

    channels, grid = sizes["latent"]
    transport = Transport(TransportConfig(), (channels, grid, grid))
    optimizer = adamw(model.parameters(), TrainConfig(lr=2e-4))
    x = torch.randn(batch, channels, grid, grid, device=device)
    y = torch.randint(0, sizes["classes"], (batch,), device=device)

    def step(latents=None):
        t = transport.sample_t(batch).to(device)
        noise = torch.randn_like(x)
        with bf16(device):
            loss = transport.loss(model, x if latents is None else latents, y, t, noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    return step


def flops_of(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def timed(fn, steps: int, device: torch.device, meter=None) -> tuple[float, float | None]:
    """Seconds per call (after a warm-up call) and joules per call when a meter is given."""
    fn()
    sync(device)
    if meter:
        meter.start()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    sync(device)
    seconds = (time.perf_counter() - start) / steps
    joules = None
    if meter:
        meter.stop()
        joules = meter.joules() / steps
    return seconds, joules


def largest_batch(name: str, sizes: dict, device: torch.device) -> tuple[int, torch.nn.Module, object]:
    best = None
    for batch in sizes["batches"]:
        try:
            model = build(name, sizes, device)
            step = train_step_fn(model, sizes, batch, device)
            step()
            step()
            sync(device)
            best = (batch, model, step)
        except torch.cuda.OutOfMemoryError:
            break
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()
    if best is None:
        raise RuntimeError(f"{name}: even batch {sizes['batches'][0]} does not fit")
    return best


def encoder(sizes: dict, device: torch.device):
    import transformers

    config = transformers.Dinov2WithRegistersConfig(**sizes["encoder"])
    return transformers.Dinov2WithRegistersModel(config).to(device).eval().requires_grad_(False)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry", action="store_true", help="tiny sizes on the CPU: checks the script runs")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the card's bf16 peak (default: table)")
    args = parser.parse_args(argv)
    device = torch.device("cpu") if args.dry or not torch.cuda.is_available() else torch.device("cuda")
    if device.type == "cpu" and not args.dry:
        raise SystemExit("no CUDA device: run with --dry on a CPU")
    sizes = DRY if args.dry else FULL
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu (dry run)"
    peak = args.peak_tflops or peak_tflops(name)
    meter = None
    if device.type == "cuda":
        from replab.footprint.meters import NvmlMeter, find_nvml

        nvml, why = find_nvml()
        meter = NvmlMeter(nvml) if nvml else None
    results: dict = {"device": name, "torch": torch.__version__, "bf16_peak_tflops": peak, "dry": args.dry,
                     "energy": meter.method if meter else "no NVML: not measured", "train": {}}  # fmt: skip

    for model_name in sizes["models"]:
        batch, model, step = largest_batch(model_name, sizes, device)
        flops = flops_of(step)
        seconds, joules = timed(step, sizes["steps"], device, meter)
        tflops = flops / seconds / 1e12
        results["train"][model_name] = {
            "batch": batch, "params_m": sum(p.numel() for p in model.parameters()) / 1e6, "s_per_step": seconds,
            "images_per_s": batch / seconds, "tflop_per_step": flops / 1e12, "achieved_tflops": tflops,
            "mfu": tflops / peak if peak else None, "joules_per_step": joules,
            "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
        }  # fmt: skip
        print(model_name, json.dumps(results["train"][model_name]), flush=True)
        last = (model_name, batch, model, step)
        del model, step
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)

    # the encoder alone, then one training step fed by it (online) vs by cached latents
    dino = encoder(sizes, device)
    size = sizes["encoder"]["image_size"]
    images = torch.rand(sizes["encoder_batch"], 3, size, size, device=device)

    def encode(batch_images=images):
        with torch.no_grad(), bf16(device):
            return dino(pixel_values=batch_images).last_hidden_state

    seconds, _ = timed(encode, sizes["steps"], device)
    results["encoder"] = {"shape": "DINOv2-B with registers" if not args.dry else "tiny", "batch": len(images),
                          "images_per_s": len(images) / seconds}  # fmt: skip
    model_name, batch, model, step = last
    channels, grid = sizes["latent"]
    skip = 1 + sizes["encoder"]["num_register_tokens"]
    batch_images = torch.rand(batch, 3, size, size, device=device)

    def online():
        tokens = encode(batch_images)[:, skip:].float()
        step(tokens.transpose(1, 2).reshape(batch, -1, grid, grid)[:, :channels])

    cached_latents = torch.randn(batch, channels, grid, grid).pin_memory() if device.type == "cuda" else None

    def cached():
        step(cached_latents.to(device, non_blocking=True) if cached_latents is not None else None)

    on_s, _ = timed(online, sizes["steps"], device)
    ca_s, _ = timed(cached, sizes["steps"], device)
    results["online_vs_cached"] = {"model": model_name, "batch": batch, "online_s_per_step": on_s,
                                   "cached_s_per_step": ca_s, "online_over_cached": on_s / ca_s}  # fmt: skip

    # sampling: 50 Euler steps with CFG (two forwards per step inside the interval)
    from replab.diffusion.samplers import GuidanceConfig, euler, guided_velocity

    model.eval()
    n = sizes["sample_batch"]
    y = torch.randint(0, sizes["classes"], (n,), device=device)
    velocity = guided_velocity(model, y, GuidanceConfig(cfg_scale=2.0), None, model.null_label)
    grid_t = torch.linspace(1, 0, sizes["sample_steps"] + 1)

    def sample():
        with bf16(device):
            return euler(velocity, torch.randn(n, channels, grid, grid, device=device), grid_t)

    seconds, _ = timed(sample, 1, device)
    results["sampling"] = {"model": model_name, "batch": n, "euler_steps": sizes["sample_steps"], "cfg": 2.0,
                           "images_per_s": n / seconds}  # fmt: skip
    print(json.dumps(results, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
