"""Spaces to diffuse in besides the RAE's, for the RAE paper's comparison of latent spaces.

``PixelCodec`` turns pixels into tokens by space-to-depth (a 28×28 image → 7×7 tokens of 16 values, the
token grid of the Fashion-MNIST RAE); ``ConvVAE`` is a plain convolutional VAE (stride-4, SD-VAE style,
small KL weight) that replab trains itself. Both expose what sampling needs from an RAE:
``encode([0, 1] images) → standardised latents``, ``decode(latents) → [0, 1] images``, ``latent_shape``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


class _Standardised(nn.Module):
    """Per-channel mean/std buffers, fitted on training latents, so every space reaches the DiT at unit scale."""

    def __init__(self, channels: int, grid: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(channels, 1, 1))
        self.register_buffer("std", torch.ones(channels, 1, 1))
        self.grid = grid

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return (self.mean.shape[0], self.grid, self.grid)

    @torch.no_grad()
    def fit_stats(self, raw: torch.Tensor) -> None:
        self.mean.copy_(raw.mean((0, 2, 3))[:, None, None])
        self.std.copy_(raw.std((0, 2, 3))[:, None, None].clamp_min(1e-6))


class PixelCodec(_Standardised):
    def __init__(self, channels: int, size: int, patch: int) -> None:
        super().__init__(channels * patch * patch, size // patch)
        self.patch = patch

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return (F.pixel_unshuffle(images, self.patch) - self.mean) / self.std

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(latents * self.std + self.mean, self.patch).clamp(0, 1)


class ConvVAE(_Standardised):
    """Two stride-2 stages (28 → 7), ``latent_channels`` per position; the posterior mean is the latent."""

    def __init__(self, channels: int = 1, size: int = 28, latent_channels: int = 4, width: int = 32) -> None:
        super().__init__(latent_channels, size // 4)
        w = width
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, w, 3, padding=1), nn.SiLU(),
            nn.Conv2d(w, w, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(w, 2 * w, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(2 * w, 2 * latent_channels, 3, padding=1),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Conv2d(latent_channels, 2 * w, 3, padding=1), nn.SiLU(),
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.SiLU(),
            nn.ConvTranspose2d(w, w, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(w, channels, 3, padding=1),
        )  # fmt: skip

    def posterior(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.encoder(images * 2 - 1).chunk(2, dim=1)
        return mean, logvar.clamp(-30, 20)

    def loss(self, images: torch.Tensor, kl_weight: float, generator: torch.Generator | None = None) -> torch.Tensor:
        """Summed squared error per image + ``kl_weight`` × KL to N(0, I), both averaged over the batch."""
        mean, logvar = self.posterior(images)
        z = mean + (0.5 * logvar).exp() * torch.randn(mean.shape, generator=generator)
        recon = torch.sigmoid(self.decoder(z))
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).flatten(1).sum(1)
        return (recon - images).pow(2).flatten(1).sum(1).mean() + kl_weight * kl.mean()

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return (self.posterior(images)[0] - self.mean) / self.std

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(latents * self.std + self.mean))


def train_conv_vae(
    images: torch.Tensor,
    steps: int = 1500,
    batch_size: int = 128,
    lr: float = 2e-3,
    kl_weight: float = 1e-3,
    seed: int = 0,
    log: Callable[[int, float], None] | None = None,
    **model_kwargs: int,
) -> ConvVAE:
    """Train a ``ConvVAE`` on ``[N, C, H, W]`` images in [0, 1] (AdamW, cosine decay), then fit its latent stats."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    vae = ConvVAE(images.shape[1], images.shape[-1], **model_kwargs)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    for step in range(steps):
        batch = images[torch.randint(len(images), (batch_size,), generator=generator)]
        loss = vae.loss(batch, kl_weight, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if log is not None and (step + 1) % 100 == 0:
            log(step + 1, loss.item())
    vae.eval()
    with torch.no_grad():
        vae.fit_stats(torch.cat([vae.posterior(images[i : i + 1000])[0] for i in range(0, len(images), 1000)]))
    return vae
