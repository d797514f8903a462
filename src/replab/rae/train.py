"""``replab rae train``: train the ViT decoder of an RAE on a frozen encoder."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from replab.core.config import to_dict
from replab.core.data import BatchOrder, load_images
from replab.core.run import Run
from replab.core.train import RESUMABLE_KEYS, autocast, default_device, lr_at, set_lr, setup_threads
from replab.metrics.image import psnr
from replab.rae.encoders import build_encoder
from replab.rae.losses import PatchDiscriminator, PerceptualLoss, adaptive_weight, hinge_d_loss
from replab.rae.model import (
    RAE,
    STATS_FILE,
    RAEConfig,
    build_decoder,
    latent_stats,
    load_stats,
    noise_sigma,
    save_stats,
)


def train_rae(config: RAEConfig, out: str | Path) -> Path:
    tc, lc = config.train, config.loss
    setup_threads(tc.threads)
    torch.manual_seed(tc.seed)
    device = default_device()
    with Run(out, to_dict(config), kind="rae", mutable=RESUMABLE_KEYS) as run:
        data = load_images(config.data, "train")
        encoder = build_encoder(config.encoder).to(device)
        decoder = build_decoder(config, encoder).to(device)
        if not (run.folder / STATS_FILE).exists():
            save_stats(run.folder, *latent_stats(encoder, data, config.stats_images))
        rae = RAE(encoder, decoder, *load_stats(run.folder)).to(device)
        perceptual = PerceptualLoss(encoder)
        disc = PatchDiscriminator(config.data.channels, lc.disc_width).to(device)
        opt = torch.optim.AdamW(decoder.parameters(), lr=tc.lr, betas=tc.betas, weight_decay=tc.weight_decay)
        opt_d = torch.optim.AdamW(disc.parameters(), lr=lc.disc_lr, betas=(0.5, 0.9))
        noise = torch.Generator().manual_seed(tc.seed + 1)
        modules, optimizers, generators = (
            {"decoder": decoder, "disc": disc},
            {"decoder": opt, "disc": opt_d},
            {"noise": noise},
        )
        state = run.resume(modules, optimizers, generators)
        start = state["step"] if state else 0
        order = BatchOrder(len(data), tc.batch_size, tc.seed)
        bar = run.progress(tc.steps, start, desc="rae train")
        tick = time.perf_counter()
        with run.phase("train"):
            for step in range(start, tc.steps):
                set_lr(opt, lr_at(step, tc))
                images = data.float(order.indices(step)).to(device)
                target = images * 2 - 1
                latents, target_features = rae.encode_with_features(images)
                sigma = noise_sigma(len(images), config.noise, noise).to(device).view(-1, 1, 1, 1)
                noisy = latents + sigma * torch.randn(latents.shape, generator=noise).to(device)
                with autocast(device, tc.bf16):
                    recon = decoder(noisy).float()
                    l1 = (recon - target).abs().mean()
                    use_perceptual = lc.perceptual and step >= lc.perceptual_start
                    perc = perceptual(recon * 0.5 + 0.5, target_features) if use_perceptual else recon.new_zeros(())
                    rec_loss = lc.l1 * l1 + lc.perceptual * perc
                    loss, gan, weight = rec_loss, recon.new_zeros(()), recon.new_zeros(())
                    if lc.gan and step >= lc.gan_start:
                        gan = -disc(recon).float().mean()
                        weight = adaptive_weight(rec_loss, gan, decoder.last_layer, lc.adaptive_max)
                        loss = rec_loss + lc.gan * weight * gan
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if tc.grad_clip:
                    torch.nn.utils.clip_grad_norm_(decoder.parameters(), tc.grad_clip)
                opt.step()
                d_loss = torch.zeros(())
                if lc.gan and step >= lc.disc_start:
                    with autocast(device, tc.bf16):
                        d_loss = hinge_d_loss(disc(target).float(), disc(recon.detach()).float())
                    opt_d.zero_grad(set_to_none=True)
                    d_loss.backward()
                    opt_d.step()
                run.add_units("steps", 1)
                run.add_units("images", len(images))
                bar.update(1)
                bar.set_postfix(l1=f"{l1.item():.4f}", perc=f"{perc.item():.4f}")
                if (step + 1) % tc.log_every == 0:
                    elapsed, tick = time.perf_counter() - tick, time.perf_counter()
                    with torch.no_grad(), autocast(device, tc.bf16):
                        clean = rae.decode(latents).float()
                    run.log(
                        step + 1, loss=loss.item(), l1=l1.item(), perceptual=perc.item(), gan=gan.item(),
                        gan_weight=weight.item(), d_loss=d_loss.item(), lr=lr_at(step, tc),
                        psnr_batch=psnr(clean, images).mean().item(),
                        images_per_s=tc.log_every * tc.batch_size / elapsed, epoch=order.epoch_of(step + 1),
                    )  # fmt: skip
                if (step + 1) % tc.ckpt_every == 0 or step + 1 == tc.steps:
                    position = {"samples_seen": (step + 1) * tc.batch_size, "epoch": order.epoch_of(step + 1)}
                    run.save(step + 1, modules, optimizers, generators, {"data": position})
        bar.close()
    return run.folder
