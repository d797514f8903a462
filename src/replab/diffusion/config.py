"""A diffusion run's config (model, transport, training, sampling) and the network it describes: what training,
sampling and import share, so that sampling never imports training."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from replab.core.train import TrainConfig
from replab.diffusion.models import STYLES, BlockStyle, DiT, build_dit
from replab.diffusion.samplers import GuidanceConfig
from replab.diffusion.transport import TransportConfig
from replab.errors import ConfigError


@dataclass
class DiffusionModelConfig:
    name: str = "DiT-DH-S"
    # a name of STYLES: "replab" (this project's design, the shipped model) or "official-rae" (computes
    # what the official RAE release computes; replab.diffusion.official converts its checkpoints)
    style: str = "replab"
    class_conditional: bool = True
    label_dropout: float = 0.1
    # DiT's 0.02 suits ImageNet-length runs; in a few thousand steps the table barely moves from it and the
    # class signal stays ~25x weaker than the timestep embedding it is added to (measured), so short presets
    # start it at the timestep embedding's scale.
    label_init_std: float = 0.02
    # The RAE code's four switches; unset = the style's (replab: all on; official-rae: QK-norm off, as in
    # the official configs). Runs saved before styles existed record all four, and load unchanged.
    qk_norm: bool | None = None  # RMSNorm on queries and keys
    rope: bool | None = None  # 2D rotary position embedding on queries and keys
    swiglu: bool | None = None  # SwiGLU feed-forward; false: DiT's GELU MLP
    rms_norm: bool | None = None  # false: LayerNorm (all four false: the original DiT block)
    grad_checkpoint: bool = False  # recompute each block's activations in the backward pass (memory for XL)


@dataclass
class DiffusionTrainConfig(TrainConfig):
    grad_accum: int = 1  # micro-steps per optimizer step; batch_size is the global batch
    ema_decay: float = 0.9995
    ema_warmup: bool = True  # decay min(ema_decay, (1 + step) / (10 + step)): short runs' EMA forgets the init


@dataclass
class DiffusionConfig:
    rae: str = ""  # the RAE run whose latents the model learns
    train_images: int = 0  # learn only the first N training images (0 = all; a demo-sized run needs fewer)
    subset: str = ""  # a folder with indices.json (e.g. 'replab data skew'): learn only those training images
    # where the latents come from: memory | online (encode each batch) | cached ('replab rae encode') | auto
    # (memory for in-memory image sets, else cached if complete, else online); see diffusion/latents.py
    latents: str = "auto"
    latents_cache: str = ""  # latents=cached: the folder 'replab rae encode' wrote (default <rae>/latents/train-cache)
    model: DiffusionModelConfig = field(default_factory=DiffusionModelConfig)
    transport: TransportConfig = field(default_factory=TransportConfig)
    train: DiffusionTrainConfig = field(default_factory=DiffusionTrainConfig)
    sample: GuidanceConfig = field(default_factory=GuidanceConfig)  # how the run is meant to be sampled


SWITCHES = ("qk_norm", "rope", "swiglu", "rms_norm")


def model_style(m: DiffusionModelConfig) -> BlockStyle:
    if m.style not in STYLES:
        raise ConfigError(f"model.style: unknown '{m.style}'; valid: {', '.join(STYLES)}")
    return dataclasses.replace(STYLES[m.style], **{k: getattr(m, k) for k in SWITCHES if getattr(m, k) is not None})


def resolve_switches(m: DiffusionModelConfig) -> DiffusionModelConfig:
    """The four switches made explicit from the style, so that a run records what it trained (and runs saved
    before styles existed, which record them, resume)."""
    style = model_style(m)
    return dataclasses.replace(m, **{k: getattr(style, k) for k in SWITCHES})


def build_model(config: DiffusionConfig, latent_shape: tuple[int, int, int], num_classes: int) -> DiT:
    channels, grid, _ = latent_shape
    classes = num_classes if config.model.class_conditional else 0
    m = config.model
    return build_dit(m.name, channels, grid, classes, m.label_init_std, model_style(m), m.label_dropout)
