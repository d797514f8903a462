"""Decoding cost: replab's ViT-B RAE decoder versus the Stable Diffusion VAE decoder, one process.

Both decode 4 images at 256×256 with random weights (cost does not depend on weights):
- RAE ViT-B decoder on DINOv2-B tokens: 16×16×768 latents, patch 16.
- diffusers AutoencoderKL with the Stable Diffusion v1 config: 32×32×4 latents.
GFLOPs are counted by torch.utils.flop_counter (matmuls and convolutions, multiply-add = 2 FLOPs);
wall time is the median of interleaved repeats on the same threads.

    .venv/bin/python benchmarks/rae_decoder_vs_sdvae.py [--repeats 5] [--batch 4]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from replab.rae.decoder import ViTDecoder


def sd_vae_decoder():
    from diffusers import AutoencoderKL

    # the Stable Diffusion v1 VAE config (CompVis/stable-diffusion-v1-4, vae/config.json)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, sample_size=256,
        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=[128, 256, 512, 512], layers_per_block=2, norm_num_groups=32, act_fn="silu",
    )  # fmt: skip
    return vae.eval()


def gflops(fn, *args) -> float:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        fn(*args)
    return counter.get_total_flops() / 1e9


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    torch.manual_seed(0)
    rae = ViTDecoder(in_channels=768, grid=16, patch_size=16, out_channels=3, size="B").eval()
    vae = sd_vae_decoder()
    z_rae = torch.randn(args.batch, 768, 16, 16)
    z_vae = torch.randn(args.batch, 4, 32, 32)
    with torch.no_grad():
        assert rae(z_rae).shape == vae.decode(z_vae).sample.shape == (args.batch, 3, 256, 256)
    flops = {
        "rae": gflops(rae, z_rae) / args.batch,
        "sdvae": gflops(lambda z: vae.decode(z).sample, z_vae) / args.batch,
    }
    times = {"rae": [], "sdvae": []}
    with torch.no_grad():
        rae(z_rae), vae.decode(z_vae)  # warm-up
        for _ in range(args.repeats):
            for name, fn, z in (("rae", rae, z_rae), ("sdvae", lambda z: vae.decode(z).sample, z_vae)):
                start = time.perf_counter()
                fn(z)
                times[name].append(time.perf_counter() - start)
    wall = {k: statistics.median(v) for k, v in times.items()}
    params = {
        "rae": sum(p.numel() for p in rae.parameters()) / 1e6,
        "sdvae": sum(p.numel() for p in vae.decoder.parameters()) / 1e6 + 4 * 4 / 1e6,
    }
    print(f"threads={torch.get_num_threads()} batch={args.batch} 256x256, median of {args.repeats}")
    print(f"{'decoder':<28}{'params (M)':>12}{'GFLOPs/img':>12}{'wall (s)':>10}")
    print(f"{'RAE ViT-B (replab)':<28}{params['rae']:>12.1f}{flops['rae']:>12.1f}{wall['rae']:>10.3f}")
    print(f"{'SD-VAE decoder (diffusers)':<28}{params['sdvae']:>12.1f}{flops['sdvae']:>12.1f}{wall['sdvae']:>10.3f}")
    print(f"GFLOPs ratio SD-VAE / RAE: {flops['sdvae'] / flops['rae']:.1f}x (paper: about 14x)")
    print(f"wall-time ratio SD-VAE / RAE: {wall['sdvae'] / wall['rae']:.1f}x")


if __name__ == "__main__":
    main()
