"""``replab rae train``: train the ViT decoder of an RAE on a frozen encoder."""

from __future__ import annotations

from pathlib import Path

import torch

from replab.core.config import to_dict
from replab.core.data import BatchOrder, ImageSet, open_images
from replab.core.image_files import SkipLog
from replab.core.loop import TrainLoop
from replab.core.run import Run
from replab.core.train import RESUMABLE_KEYS, adamw, autocast, start_training
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
    device = start_training(tc)
    with Run(out, to_dict(config), kind="rae", mutable=RESUMABLE_KEYS) as run:
        data = open_images(config.data, "train")
        encoder = build_encoder(config.encoder).to(device)
        decoder = build_decoder(config, encoder).to(device)
        skips = SkipLog(run.folder)
        if not (run.folder / STATS_FILE).exists():
            stats = latent_stats(encoder, data, config.stats_images, seed=tc.seed, on_skip=skips.add)
            save_stats(run.folder, *stats)
        rae = RAE(encoder, decoder, *load_stats(run.folder), config.latent_eps).to(device)
        perceptual = PerceptualLoss(encoder)
        disc = PatchDiscriminator(config.data.channels, lc.disc_width).to(device)
        opt = adamw(decoder.parameters(), tc)
        opt_d = adamw(disc.parameters(), tc, lr=lc.disc_lr, betas=(0.5, 0.9), weight_decay=0.01)
        noise = torch.Generator().manual_seed(tc.seed + 1)
        order = BatchOrder(len(data), tc.batch_size, tc.seed)
        loop = TrainLoop(
            run, tc, {"decoder": decoder, "disc": disc}, {"decoder": opt, "disc": opt_d}, {"noise": noise},
            units={"images": tc.batch_size}, desc="rae train", scheduled=["decoder"],
            position=lambda done: {"samples_seen": done * tc.batch_size, "epoch": order.epoch_of(done)},
        )  # fmt: skip
        batches = data.batches((order.indices(s) for s in range(loop.start, tc.steps)), device.type == "cuda")
        for step in loop:
            batch = next(batches)
            skips.add(batch.skipped)
            images = batch.images.to(device, non_blocking=True).float().div_(255)
            target = images * 2 - 1
            latents, target_features = rae.encode_with_features(images)
            noisy = _noised(latents, config.noise, noise)
            with autocast(device, tc.bf16):
                recon = decoder(noisy).float()
                l1 = (recon - target).abs().mean()
                use_perceptual = lc.perceptual and step >= lc.perceptual_start
                perc = perceptual(recon * 0.5 + 0.5, target_features) if use_perceptual else recon.new_zeros(())
                loss, gan, weight = lc.l1 * l1 + lc.perceptual * perc, recon.new_zeros(()), recon.new_zeros(())
                if lc.gan and step >= lc.gan_start:
                    gan = -disc(recon).float().mean()
                    weight = adaptive_weight(loss, gan, decoder.last_layer, lc.adaptive_max)
                    loss = loss + lc.gan * weight * gan
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if tc.grad_clip:
                torch.nn.utils.clip_grad_norm_(decoder.parameters(), tc.grad_clip)
            opt.step()
            d_loss = torch.zeros(())
            if lc.gan and step >= lc.disc_start:
                d_loss = _discriminator_step(disc, opt_d, target, recon.detach(), autocast(device, tc.bf16))

            extra = None
            if loop.is_log_step(step):  # PSNR of the noise-free decoding, on logged steps only
                with torch.no_grad(), autocast(device, tc.bf16):
                    extra = {"psnr_batch": psnr(rae.decode(latents).float(), images).mean().item(),
                             "epoch": order.epoch_of(step + 1)}  # fmt: skip
                if not isinstance(data, ImageSet):
                    extra["skipped_files"] = skips.take()
            loop.end_step(step, l1=l1, perceptual=perc, loss=loss, gan=gan, gan_weight=weight, d_loss=d_loss,
                          extra=extra)  # fmt: skip
    return run.folder


def _discriminator_step(disc, optimizer, real: torch.Tensor, fake: torch.Tensor, precision) -> torch.Tensor:
    with precision:
        loss = hinge_d_loss(disc(real).float(), disc(fake).float())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


def _noised(latents: torch.Tensor, config, generator: torch.Generator) -> torch.Tensor:
    """Noise-augmented decoder input z + σ·ε (drawn on the CPU: the same draws on any device)."""
    sigma = noise_sigma(len(latents), config, generator).to(latents.device).view(-1, 1, 1, 1)
    return latents + sigma * torch.randn(latents.shape, generator=generator).to(latents.device)
