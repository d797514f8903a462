"""The RAE: frozen encoder → standardised latents ``[B, C, h, w]`` → ViT decoder → pixels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from replab.core.config import from_dict
from replab.core.data import DataConfig, ImageSet
from replab.core.image_files import StreamingImages
from replab.core.run import Run
from replab.core.train import TrainConfig
from replab.errors import CheckpointError, ConfigError
from replab.rae.decoder import ViTDecoder
from replab.rae.encoders import EncoderConfig, RepresentationEncoder, build_encoder

STATS_FILE = "latent_stats.safetensors"
NOISE_DISTRIBUTIONS = ("uniform", "half-normal", "none")


@dataclass
class DecoderConfig:
    size: str = "tiny"  # tiny | S | B | L | XL
    style: str = "replab"  # replab | official-rae (the official GeneralDecoder; see rae/decoder.py)
    mlp_width: int = 0  # 0 = 4 × width (the official ViT-XL decoder uses 4096)


@dataclass
class NoiseAugConfig:
    """Noise-augmented decoding: z ← z + σ·ε during decoder training, σ = tau · U(0,1) (or |N(0,1)|)."""

    tau: float = 0.8
    distribution: str = "uniform"  # uniform | half-normal | none


@dataclass
class LossConfig:
    l1: float = 1.0
    perceptual: float = 1.0
    perceptual_start: int = 0  # step from which the perceptual term is added (L1 alone before)
    gan: float = 0.75  # multiplies the adaptive weight λ
    gan_start: int = 0  # step at which the decoder starts receiving the GAN loss
    disc_start: int = 0  # step at which the discriminator starts training (≤ gan_start)
    adaptive_max: float = 1e4
    disc_width: int = 64
    disc_lr: float = 2e-4


@dataclass
class RAEConfig:
    data: DataConfig = field(default_factory=DataConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    noise: NoiseAugConfig = field(default_factory=NoiseAugConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    stats_images: int = 10000  # training images used for the latent mean/variance
    latent_eps: float = 1e-6  # latents are (z − mean) / sqrt(var + eps); the official release uses 1e-5


class RAE(nn.Module):
    def __init__(
        self,
        encoder: RepresentationEncoder,
        decoder: ViTDecoder,
        mean: torch.Tensor,
        var: torch.Tensor,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.register_buffer("mean", mean)
        self.register_buffer("std", (var + eps).sqrt())

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return tuple(self.mean.shape)  # type: ignore[return-value]

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] images → standardised latents (per channel and position)."""
        return self.standardize(self.encoder(images))

    @torch.no_grad()
    def encode_with_features(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Latents plus the encoder's features of the same pass (the perceptual loss's targets)."""
        features = self.encoder.features(images)
        return self.standardize(self.encoder.to_grid(features[-1])), features

    def standardize(self, tokens: torch.Tensor) -> torch.Tensor:
        return (tokens - self.mean) / self.std

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Standardised latents → [0, 1] images."""
        return (self.decoder(latents) * 0.5 + 0.5).clamp(0, 1)


def build_decoder(config: RAEConfig, encoder: RepresentationEncoder) -> ViTDecoder:
    size = config.data.image_size
    if size % encoder.grid:
        raise ConfigError(
            f"data.image_size={size} is not a multiple of the encoder's {encoder.grid}×{encoder.grid} token grid"
        )
    d = config.decoder
    mean, std = tuple(encoder.mean.flatten().tolist()), tuple(encoder.std.flatten().tolist())
    return ViTDecoder(encoder.channels, encoder.grid, size // encoder.grid, config.data.channels, d.size, d.style,
                      d.mlp_width, mean, std)  # fmt: skip


@torch.no_grad()
def latent_stats(
    encoder: RepresentationEncoder,
    data: ImageSet | StreamingImages,
    n: int,
    batch_size: int = 256,
    seed: int = 0,
    on_skip: Callable[[list[str]], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel-and-position mean and variance of the encoder's tokens over ``n`` images: the first ``n``
    of an in-memory set (as the shipped runs were made), a seeded random ``n`` of a streamed one (folders
    list class by class). ``on_skip`` hears of the files a streamed set could not decode."""
    n = min(n, len(data))
    if isinstance(data, ImageSet):
        chosen = torch.arange(n)
    else:
        chosen = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    device = encoder.mean.device
    total = sq = None
    count = 0
    for batch in data.batches(chosen.split(batch_size)):
        if on_skip:
            on_skip(batch.skipped)
        z = encoder(batch.images.to(device).float().div_(255)).double()
        total = z.sum(0) if total is None else total + z.sum(0)
        sq = (z * z).sum(0) if sq is None else sq + (z * z).sum(0)
        count += len(z)
    mean = total / count
    return mean.float().cpu(), (sq / count - mean * mean).clamp_min(0).float().cpu()


def save_stats(folder: Path, mean: torch.Tensor, var: torch.Tensor) -> None:
    save_file({"mean": mean.contiguous(), "var": var.contiguous()}, str(folder / STATS_FILE))


def load_stats(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    tensors = load_file(str(folder / STATS_FILE))
    return tensors["mean"], tensors["var"]


def noise_sigma(n: int, config: NoiseAugConfig, generator: torch.Generator) -> torch.Tensor:
    """One σ per sample for noise-augmented decoding."""
    if config.distribution == "uniform":
        return config.tau * torch.rand(n, generator=generator)
    if config.distribution == "half-normal":
        return config.tau * torch.randn(n, generator=generator).abs()
    if config.distribution == "none":
        return torch.zeros(n)
    raise ConfigError(f"noise.distribution: unknown '{config.distribution}'; valid: {', '.join(NOISE_DISTRIBUTIONS)}")


def load_rae(run_folder: str | Path, device: torch.device | str = "cpu") -> tuple[RAE, RAEConfig]:
    """The trained RAE of a ``replab rae train`` run (newest checkpoint)."""
    folder = Path(run_folder)
    raw = Run.read_config(folder)
    if raw.get("kind") != "rae":
        raise ConfigError(f"{folder} is a '{raw.get('kind')}' run, not an RAE run")
    config = from_dict(RAEConfig, {k: v for k, v in raw.items() if k != "kind"}, str(folder / "config.yaml"))
    encoder = build_encoder(config.encoder)
    decoder = build_decoder(config, encoder)
    run_checkpoints = sorted((folder / "checkpoints").glob("step_*[0-9]"))
    if not run_checkpoints or not (folder / STATS_FILE).exists():
        raise CheckpointError(f"{folder} holds no finished RAE checkpoint yet; train it with 'replab rae train'")
    from replab.core.checkpoint import load_modules

    latest = run_checkpoints[-1]
    load_modules({"decoder": decoder}, load_file(str(latest / "model.safetensors")), str(latest))
    mean, var = load_stats(folder)
    rae = RAE(encoder, decoder, mean, var, config.latent_eps).to(device).eval()
    return rae, config
