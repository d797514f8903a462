"""The encoder registry: frozen representation encoders that turn images into ``[B, C, h, w]`` tokens.

Every encoder resizes and normalises its input, runs the backbone, applies an affine-free final
LayerNorm (weight and bias removed, as RAE does) and drops the CLS and register tokens.

- ``dinov2``: DINOv2 with registers (``Dinov2WithRegistersModel``), patch 14 at 224 → 16×16×768 for B
- ``siglip2``: SigLIP2 vision tower (``SiglipVisionModel``), patch 16 at 256 → 16×16×768 for B
- ``mae``: MAE (``ViTMAEModel``, mask ratio 0, patch order kept), patch 16 at 224 → 14×14×768 for B
- ``local-vit``: replab's own small ViT pre-trained on Fashion-MNIST, shipped under assets/
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from replab.core.vit import LocalViT, read_local_vit
from replab.errors import ConfigError, DataError

ASSETS = Path(__file__).resolve().parent.parent / "assets"
LOCAL_VIT_DEFAULT = ASSETS / "encoders" / "local-vit-fmnist"

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
HUB_DEFAULTS = {
    "dinov2": ("facebook/dinov2-with-registers-base", 224, IMAGENET_MEAN, IMAGENET_STD),
    "siglip2": ("google/siglip2-base-patch16-256", 256, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "mae": ("facebook/vit-mae-base", 224, IMAGENET_MEAN, IMAGENET_STD),
}
ENCODERS = ("local-vit", *HUB_DEFAULTS)


@dataclass
class EncoderConfig:
    name: str = "local-vit"  # local-vit | dinov2 | siglip2 | mae
    weights: str | None = None  # hub id or local folder; None = the default for that encoder
    input_size: int | None = None  # resize input to this; None = the encoder's native size


class RepresentationEncoder(nn.Module):
    """Frozen backbone → ``[B, C, h, w]`` tokens; ``features`` gives intermediate states for perceptual losses."""

    channels: int
    grid: int
    input_size: int

    def __init__(self, name: str, input_size: int, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.name = name
        self.input_size = input_size
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] images of any size and 1 or 3 channels → the backbone's input."""
        channels = self.mean.shape[1]
        if images.shape[1] != channels:
            images = images.expand(-1, channels, -1, -1) if images.shape[1] == 1 else images.mean(1, keepdim=True)
        if images.shape[-1] != self.input_size or images.shape[-2] != self.input_size:
            images = F.interpolate(images, size=(self.input_size,) * 2, mode="bicubic", align_corners=False)
        return (images - self.mean) / self.std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.to_grid(self.tokens(images)[0])

    def to_grid(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[B, h·w, C]`` → ``[B, C, h, w]``."""
        b, _, c = tokens.shape
        return tokens.transpose(1, 2).reshape(b, c, self.grid, self.grid)

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Hidden states of every block plus the final tokens, for a perceptual loss."""
        tokens, hidden = self.tokens(images)
        return [*hidden, tokens]

    def tokens(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        raise NotImplementedError


class LocalViTEncoder(RepresentationEncoder):
    def __init__(self, model: LocalViT) -> None:
        channels = model.config.in_channels
        super().__init__("local-vit", model.config.image_size, (0.0,) * channels, (1.0,) * channels)
        self.model = model
        self.channels, self.grid = model.config.dim, model.grid

    def tokens(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x, hidden = self.model.forward_tokens(self.model.embed(self.prepare(images)), return_hidden=True)
        return x[:, 1:], [h[:, 1:] for h in hidden]


class HubEncoder(RepresentationEncoder):
    """A transformers vision backbone; ``skip`` leading tokens (CLS, registers) are dropped."""

    def __init__(self, name: str, model: nn.Module, final_norm_attr: str, skip: int, input_size: int, mean, std):
        super().__init__(name, input_size, mean, std)
        self.model = model
        config = model.config
        old = _get_attr(model, final_norm_attr)
        _set_attr(model, final_norm_attr, nn.LayerNorm(config.hidden_size, eps=old.eps, elementwise_affine=False))
        self.skip = skip
        self.channels = config.hidden_size
        self.grid = input_size // config.patch_size

    def tokens(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        pixels = self.prepare(images)
        kwargs = {"output_hidden_states": True}
        if self.name == "mae":  # keep every patch, in order: noise = position makes the shuffle the identity
            n = (self.input_size // self.model.config.patch_size) ** 2
            kwargs["noise"] = torch.arange(n, dtype=pixels.dtype, device=pixels.device).expand(len(pixels), n)
        out = self.model(pixel_values=pixels, **kwargs)
        hidden = [h[:, self.skip :] for h in out.hidden_states[1:]]
        return out.last_hidden_state[:, self.skip :], hidden


def _get_attr(obj, dotted: str):
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _set_attr(obj, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        obj = getattr(obj, part)
    setattr(obj, last, value)


def load_hub_encoder(name: str, weights: str | None = None, input_size: int | None = None) -> HubEncoder:
    """Load DINOv2-with-registers, SigLIP2 or MAE through transformers ``from_pretrained``."""
    import transformers

    default_id, default_size, mean, std = HUB_DEFAULTS[name]
    source = weights or default_id
    try:
        if name == "dinov2":
            model = transformers.Dinov2WithRegistersModel.from_pretrained(source)
            skip, norm = 1 + model.config.num_register_tokens, "layernorm"
        elif name == "siglip2":
            verbosity = transformers.logging.get_verbosity()
            transformers.logging.set_verbosity_error()  # the pooling head we drop is reported as unexpected
            try:
                # the pooling head is never used: dropped through the config (a keyword transformers < 5.25 refuses)
                config = transformers.SiglipVisionConfig.from_pretrained(source)
                config.vision_use_head = False
                model = transformers.SiglipVisionModel.from_pretrained(source, config=config)
            finally:
                transformers.logging.set_verbosity(verbosity)
            # transformers 4.x nests the tower under .vision_model; 5.x does not
            skip, norm = 0, "vision_model.post_layernorm" if hasattr(model, "vision_model") else "post_layernorm"
        else:
            model = transformers.ViTMAEModel.from_pretrained(source, mask_ratio=0.0)
            skip, norm = 1, "layernorm"
    except OSError as exc:
        raise ConfigError(
            f"encoder.weights: cannot load {name} from '{source}' ({exc}). Offline, give a local folder "
            "saved with save_pretrained, or use encoder.name=local-vit"
        ) from exc
    size = input_size or getattr(model.config, "image_size", default_size)
    if size % model.config.patch_size:
        raise ConfigError(f"encoder.input_size={size} is not a multiple of the patch size {model.config.patch_size}")
    return HubEncoder(name, model, norm, skip, size, mean, std)


# ---- local-vit weights on disk ------------------------------------------------------------------
def save_local_vit(model: LocalViT, folder: Path, dtype: torch.dtype = torch.bfloat16) -> None:
    """Save as ``model.safetensors`` (bf16 by default, to stay small) + ``config.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(model.config.__dict__, indent=1))


def load_local_vit(folder: Path | str | None = None) -> LocalViT:
    folder = Path(folder) if folder else LOCAL_VIT_DEFAULT
    if not (folder / "model.safetensors").exists():
        raise DataError(
            f"local-vit weights not found in {folder}; pre-train them with "
            "'replab rae pretrain-encoder --preset local-vit-fmnist --out runs/encoder'"
        )
    return read_local_vit(folder)


def build_encoder(config: EncoderConfig) -> RepresentationEncoder:
    """Build a frozen encoder from its config (eval mode, no gradients to its weights)."""
    if config.name == "local-vit":
        encoder: RepresentationEncoder = LocalViTEncoder(load_local_vit(config.weights))
        if config.input_size not in (None, encoder.input_size):
            raise ConfigError(
                f"encoder.input_size: local-vit was trained at {encoder.input_size}, got {config.input_size}"
            )
    elif config.name in HUB_DEFAULTS:
        encoder = load_hub_encoder(config.name, config.weights, config.input_size)
    else:
        raise ConfigError(f"encoder.name: unknown encoder '{config.name}'; valid: {', '.join(ENCODERS)}")
    encoder.eval().requires_grad_(False)
    return encoder
