"""The official RAE release ↔ replab for the decoder and the latent statistics.

- ``decoder_to_official`` / ``load_official_decoder``: the layout of the official ``GeneralDecoder``
  (``stage1/decoders/decoder.py``: ViT-MAE layers with separate query/key/value) for a replab
  ``ViTDecoder`` of the ``official-rae`` style. Its fixed position table is checked, not loaded.
- ``read_official_stats``: the official statistics file (``torch.save({"mean", "var"})``, each
  ``[C, h, w]``, either may be absent) as replab's mean and variance; latents are then
  ``(z − mean) / sqrt(var + 1e-5)``, the official epsilon.
- ``import_official``: ``replab rae import-official`` → a replab RAE Run folder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
import yaml

from replab.core.checkpoint import read_torch_state_dict
from replab.core.config import from_dict, to_dict
from replab.core.run import Run
from replab.errors import CheckpointError, ConfigError
from replab.rae.decoder import DECODER_SIZES, ViTDecoder

OFFICIAL_EPS = 1e-5
_LAYER_PARTS = {
    "layernorm_before.": "norm1.",
    "layernorm_after.": "norm2.",
    "attention.output.dense.": "attn.proj.",
    "intermediate.dense.": "mlp.fc1.",
    "output.dense.": "mlp.fc2.",
}
_TOP = {
    "decoder_embed.": "embed.",
    "decoder_norm.": "norm.",
    "decoder_pred.": "head.",
    "trainable_cls_token": "cls_token",
}
_QKV = ("query", "key", "value")


def _check_style(decoder: ViTDecoder) -> None:
    if decoder.style != "official-rae":
        raise ConfigError("only a decoder of the official-rae style has an official layout (decoder.style)")


def decoder_to_official(decoder: ViTDecoder) -> dict[str, torch.Tensor]:
    """``decoder``'s weights as the official ``GeneralDecoder.load_state_dict`` takes them."""
    _check_style(decoder)
    out: dict[str, torch.Tensor] = {"decoder_pos_embed": decoder.pos.detach().cpu().clone()}
    for key, value in decoder.state_dict().items():
        value = value.detach().cpu().clone()
        match = re.match(r"blocks\.(\d+)\.(.*)", key)
        if match:
            index, rest = match.groups()
            prefix = f"decoder_layers.{index}."
            if rest.startswith("attn.qkv."):
                for name, part in zip(_QKV, value.chunk(3, dim=0)):
                    out[f"{prefix}attention.attention.{name}.{rest.rsplit('.', 1)[1]}"] = part.clone()
                continue
            theirs = next(t for t, o in _LAYER_PARTS.items() if rest.startswith(o))
            out[prefix + theirs + rest[len(_LAYER_PARTS[theirs]) :]] = value
            continue
        theirs = next(t for t, o in _TOP.items() if key.startswith(o))
        out[theirs + key[len(_TOP[theirs]) :]] = value
    return out


def load_official_decoder(decoder: ViTDecoder, state: dict[str, torch.Tensor], source: str) -> None:
    """Load an official ``GeneralDecoder`` state dict, strictly; the first key that does not fit is named."""
    _check_style(decoder)
    ours = decoder.state_dict()
    loaded: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for name, value in state.items():
        if name == "decoder_pos_embed":
            if value.shape != decoder.pos.shape or not torch.allclose(value.float(), decoder.pos, atol=1e-5):
                raise CheckpointError(
                    f"{source}: decoder_pos_embed (shape {list(value.shape)}) is not the fixed table of this decoder "
                    f"(shape {list(decoder.pos.shape)}): another latent grid or decoder width?"
                )
            continue
        key = _replab_key(name)
        if key is None:
            raise CheckpointError(f"{source}: key {name} has no place in a {_describe(decoder)}")
        if isinstance(key, tuple):  # one of query / key / value: joined into qkv below
            qkv.setdefault(key[:2], {})[key[2]] = value
            continue
        loaded[key] = value
    for (index, kind), parts in qkv.items():
        missing = [p for p in _QKV if p not in parts]
        if missing:
            raise CheckpointError(
                f"{source}: key decoder_layers.{index}.attention.attention.{missing[0]}.{kind} is missing"
            )
        key = f"blocks.{index}.attn.qkv.{kind}"
        if key in ours:
            each = (ours[key].shape[0] // 3, *ours[key].shape[1:])
            for p in _QKV:
                if parts[p].shape != each:
                    raise CheckpointError(
                        f"{source}: decoder_layers.{index}.attention.attention.{p}.{kind} has shape "
                        f"{list(parts[p].shape)}, a {_describe(decoder)} expects {list(each)}"
                    )
        loaded[key] = torch.cat([parts[p] for p in _QKV])
    for key, value in loaded.items():
        if key not in ours:
            raise CheckpointError(f"{source}: {_official_name(key)} has no place in a {_describe(decoder)}")
        if value.shape != ours[key].shape:
            raise CheckpointError(
                f"{source}: {_official_name(key)} has shape {list(value.shape)}, a {_describe(decoder)} "
                f"expects {list(ours[key].shape)}"
            )
    missing = [key for key in ours if key not in loaded]
    if missing:
        raise CheckpointError(f"{source}: key {_official_name(missing[0])} is missing ({len(missing)} missing in all)")
    decoder.load_state_dict(loaded)


def _replab_key(name: str) -> str | tuple[str, str, str] | None:
    match = re.match(r"decoder_layers\.(\d+)\.(.*)", name)
    if match:
        index, rest = match.groups()
        qkv = re.match(r"attention\.attention\.(query|key|value)\.(weight|bias)$", rest)
        if qkv:
            return index, qkv.group(2), qkv.group(1)
        for theirs, ours in _LAYER_PARTS.items():
            if rest.startswith(theirs):
                return f"blocks.{index}.{ours}{rest[len(theirs) :]}"
        return None
    for theirs, ours in _TOP.items():
        if name.startswith(theirs):
            return ours + name[len(theirs) :]
    return None


def _official_name(key: str) -> str:
    match = re.match(r"blocks\.(\d+)\.(.*)", key)
    if match:
        index, rest = match.groups()
        if rest.startswith("attn.qkv."):
            return f"decoder_layers.{index}.attention.attention.query.{rest.rsplit('.', 1)[1]}"
        theirs = next((t for t, o in _LAYER_PARTS.items() if rest.startswith(o)), "")
        return f"decoder_layers.{index}.{theirs}{rest[len(_LAYER_PARTS.get(theirs, '')) :]}"
    theirs = next((t for t, o in _TOP.items() if key.startswith(o)), "")
    return theirs + key[len(_TOP.get(theirs, "")) :]


def _describe(decoder: ViTDecoder) -> str:
    width = decoder.embed.out_features
    return f"width-{width} decoder with {len(decoder.blocks)} layers on {decoder.embed.in_features}-channel latents"


def read_official_stats(path: str | Path) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(mean, var) of an official statistics file, each ``[C, h, w]`` or None where the file has none."""
    path = Path(path)
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot be read as the official latent statistics ({exc})") from exc
    if not isinstance(raw, dict) or not ({"mean", "var"} & set(raw)):
        raise CheckpointError(f"{path}: expected a dict with 'mean' and/or 'var' (the official stat.pt)")

    def squeeze(value: Any, name: str) -> torch.Tensor | None:
        if value is None:
            return None
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{path}: '{name}' is a {type(value).__name__}, not a tensor")
        while value.ndim > 3 and value.shape[0] == 1:
            value = value[0]
        if value.ndim != 3:
            raise CheckpointError(f"{path}: '{name}' has shape {list(value.shape)}; expected [C, h, w]")
        return value.float()

    return squeeze(raw.get("mean"), "mean"), squeeze(raw.get("var"), "var")


def decoder_config_from_official(config: dict[str, Any], where: str) -> dict[str, Any]:
    """An official decoder ``config.json`` (ViT-MAE fields) → replab's ``decoder`` section."""
    try:
        dims = (int(config["decoder_hidden_size"]), int(config["decoder_num_hidden_layers"]),
                int(config["decoder_num_attention_heads"]))  # fmt: skip
    except KeyError as exc:
        raise ConfigError(f"{where}: missing field {exc.args[0]} (an official decoder config.json?)") from exc
    size = next((name for name, d in DECODER_SIZES.items() if d == dims), None)
    if size is None:
        raise ConfigError(
            f"{where}: decoder width/layers/heads {dims} match no replab decoder size ({', '.join(DECODER_SIZES)})"
        )
    if str(config.get("hidden_act", "gelu")) != "gelu":
        raise ConfigError(f"{where}: hidden_act '{config['hidden_act']}' is not supported (only 'gelu')")
    if float(config.get("layer_norm_eps", 1e-12)) != 1e-12:
        raise ConfigError(f"{where}: layer_norm_eps {config['layer_norm_eps']} is not the official 1e-12")
    return {
        "size": size,
        "style": "official-rae",
        "mlp_width": int(config.get("decoder_intermediate_size", 4 * dims[0])),
    }


def import_official(
    decoder_ckpt: str | Path,
    decoder_config: str | Path,
    stats: str | Path,
    out: str | Path,
    encoder: str = "dinov2",
    encoder_weights: str | None = None,
    encoder_input_size: int = 224,
    decoder_patch_size: int = 16,
) -> Path:
    """A released RAE decoder (``model.pt``), its ``config.json`` and ``stat.pt`` → a replab RAE Run folder.
    The encoder is loaded by name from the hub (or ``encoder_weights``, a local folder) when the run is used."""
    from replab.rae.encoders import EncoderConfig
    from replab.rae.model import RAEConfig, save_stats

    decoder_config = Path(decoder_config)
    try:
        official = json.loads(decoder_config.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{decoder_config}: cannot read the official decoder config ({exc})") from exc
    mean, var = read_official_stats(stats)
    shape = (mean if mean is not None else var).shape
    channels, grid = shape[0], shape[1]
    image_size = decoder_patch_size * grid
    raw = {
        "data": {"source": "folder", "image_size": image_size, "channels": 3},
        "encoder": to_dict(EncoderConfig(name=encoder, weights=encoder_weights, input_size=encoder_input_size)),
        "decoder": decoder_config_from_official(official, str(decoder_config)),
        "noise": {"tau": 0.0, "distribution": "none"}, "latent_eps": OFFICIAL_EPS,
    }  # fmt: skip
    config = from_dict(RAEConfig, raw, str(decoder_config))
    from replab.rae.encoders import HUB_DEFAULTS

    pixel_mean, pixel_std = HUB_DEFAULTS[encoder][2:] if encoder in HUB_DEFAULTS else ((), ())
    d = config.decoder
    decoder = ViTDecoder(channels, grid, image_size // grid, 3, d.size, d.style, d.mlp_width, pixel_mean, pixel_std)
    state, which = read_torch_state_dict(decoder_ckpt)
    load_official_decoder(decoder, state, str(decoder_ckpt))
    with Run(out, to_dict(config), kind="rae") as run:
        save_stats(
            run.folder, mean if mean is not None else torch.zeros(shape), var if var is not None else torch.ones(shape)
        )
        run.log(0, event="import-official", decoder=str(decoder_ckpt), weights=which, stats=str(stats))
        run.save(0, {"decoder": decoder}, state={"imported_from": str(decoder_ckpt)})
    print(f"imported {decoder_ckpt} ({which}) as a {d.size} decoder, official-rae style → {out}")
    return Path(out)


def paths_from_official_yaml(config_path: str | Path, root: str | Path | None = None) -> dict[str, Any]:
    """The decoder, its config, the statistics and the encoder that an official YAML's ``stage_1`` names,
    resolved against ``root`` (the official checkout; default: the working directory)."""
    config_path = Path(config_path)
    try:
        stage1 = (yaml.safe_load(config_path.read_text()) or {})["stage_1"]["params"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigError(f"{config_path}: no stage_1.params section ({exc})") from exc
    base = Path(root) if root else Path.cwd()
    encoders = {"Dinov2withNorm": "dinov2", "SigLIP2wNorm": "siglip2", "MAEwNorm": "mae"}
    cls = stage1.get("encoder_cls", "Dinov2withNorm")
    if cls not in encoders:
        raise ConfigError(f"{config_path}: stage_1.params.encoder_cls '{cls}' is not one of {', '.join(encoders)}")
    for field in ("pretrained_decoder_path", "decoder_config_path", "normalization_stat_path"):
        if not stage1.get(field):
            raise ConfigError(f"{config_path}: stage_1.params.{field} is not set")
    return {
        "decoder_ckpt": base / stage1["pretrained_decoder_path"],
        "decoder_config": base / stage1["decoder_config_path"] / "config.json",
        "stats": base / stage1["normalization_stat_path"],
        "encoder": encoders[cls],
        "encoder_weights": stage1.get("encoder_config_path"),
        "encoder_input_size": int(stage1.get("encoder_input_size", 224)),
        "decoder_patch_size": int(stage1.get("decoder_patch_size", 16)),
    }
