"""The official RAE release (github.com/bytetriper/RAE) ↔ replab for the diffusion model.

- ``to_official`` / ``load_official``: state dicts in the layout of the official ``DiTwDDTHead``
  (``stage2/models/DDT.py``) or ``LightningDiT`` (``stage2/models/lightningDiT.py``), for a replab
  ``DiT`` of the ``official-rae`` style. Position embeddings and RoPE tables, which the official
  modules keep in their state dicts, are recomputed here and checked against the file.
- ``model_config_from_official``: the ``stage_2`` section of an official YAML as replab's model config.
- ``import_official``: ``replab diffusion import-official``, a released checkpoint (EMA weights where
  present) plus its YAML → a replab diffusion Run folder that ``replab diffusion sample`` reads.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any

import torch
import yaml

from replab.core.checkpoint import read_torch_state_dict
from replab.core.config import from_dict, to_dict
from replab.core.run import Run
from replab.diffusion.models import DIT_MODELS, OFFICIAL_RAE, DiT, DiTSpec
from replab.errors import CheckpointError, ConfigError

DH_TARGET, PLAIN_TARGET = "DiTwDDTHead", "LightningDiT"
# official DiTwDDTHead defaults, for keys a YAML leaves out
OFFICIAL_DEFAULTS: dict[str, Any] = {
    "input_size": 1, "patch_size": 1, "in_channels": 768, "hidden_size": [1152, 2048], "depth": [28, 2],
    "num_heads": [16, 16], "mlp_ratio": 4.0, "class_dropout_prob": 0.1, "num_classes": 1000,
    "use_qknorm": False, "use_swiglu": True, "use_rope": True, "use_rmsnorm": True, "wo_shift": False,
    "use_pos_embed": True, "learn_sigma": False,
}  # fmt: skip
_BLOCK_PARTS = [("ada.1.", "adaLN_modulation.1."), ("mlp.0.", "mlp.fc1."), ("mlp.2.", "mlp.fc2.")]


def _is_official_style(model: DiT) -> bool:
    four = ("qk_norm", "rope", "swiglu", "rms_norm")
    return {k: v for k, v in vars(model.style).items() if k not in four} == {
        k: v for k, v in vars(OFFICIAL_RAE).items() if k not in four
    }


def _official_key(model: DiT, key: str) -> str:
    """The official name of one of ``model``'s state-dict keys."""
    dh = model.is_dh
    match = re.match(r"(head_blocks|blocks)\.(\d+)\.(.*)", key)
    if match:
        part, index, rest = match.groups()
        index = int(index) + (model.spec.depth if part == "head_blocks" else 0)
        for ours, theirs in _BLOCK_PARTS:
            if rest.startswith(ours):
                rest = theirs + rest[len(ours) :]
        return f"blocks.{index}.{rest}"
    prefixes = [
        ("x_embed.", "s_embedder.proj." if dh else "x_embedder.proj."),
        ("head_x_embed.", "x_embedder.proj."),
        ("cond_proj.", "s_projector."),
        ("t_embed.", "t_embedder."),
        ("y_embed.table.", "y_embedder.embedding_table."),
        ("final.norm.", "final_layer.norm_final."),
        ("final.ada.1.", "final_layer.adaLN_modulation.1."),
        ("final.linear.", "final_layer.linear."),
    ]
    for ours, theirs in prefixes:
        if key.startswith(ours):
            return theirs + key[len(ours) :]
    raise CheckpointError(f"{key}: this model has a part the official layout lacks (is it of the official-rae style?)")


def _is_patch_embed(official_key: str) -> bool:
    return official_key.endswith("embedder.proj.weight")


def _derived(model: DiT) -> dict[str, torch.Tensor]:
    """The fixed tensors the official modules keep in their state dicts: sin-cos positions and RoPE tables."""

    def rope_tables(part: str) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = torch.view_as_real(model._rope[part].cpu())  # [N, Dh/2, 2]: cos, sin of each pair's angle
        return pairs[..., 0].repeat_interleave(2, -1), pairs[..., 1].repeat_interleave(2, -1)

    out = {"pos_embed": model.pos.detach().cpu()}
    if model.style.rope:
        names = {"trunk": "enc_feat_rope", "head": "dec_feat_rope"} if model.is_dh else {"trunk": "feat_rope"}
        for part, name in names.items():
            out[f"{name}.freqs_cos"], out[f"{name}.freqs_sin"] = rope_tables(part)
    return out


def to_official(model: DiT) -> dict[str, torch.Tensor]:
    """``model``'s weights in the official layout (what ``load_state_dict`` of the official module takes)."""
    if not _is_official_style(model):
        raise ConfigError("only a model of the official-rae style has an official layout (model.style: official-rae)")
    out: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        name = _official_key(model, key)
        out[name] = value.detach().cpu().clone()
        if _is_patch_embed(name):
            out[name] = out[name][:, :, None, None]  # a 1×1 convolution there, a Linear here
    out.update(_derived(model))
    return out


def load_official(model: DiT, state: dict[str, torch.Tensor], source: str) -> None:
    """Load an official-layout state dict into ``model``, strictly; the first key that does not fit is named."""
    if not _is_official_style(model):
        raise ConfigError("official weights load only into a model of the official-rae style")
    ours = model.state_dict()
    wanted = {_official_key(model, key): key for key in ours}
    derived = _derived(model)
    loaded: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        if name in derived:
            if value.shape != derived[name].shape or not torch.allclose(value.float(), derived[name], atol=1e-5):
                raise CheckpointError(
                    f"{source}: {name} (shape {list(value.shape)}) is not the fixed table this model computes "
                    f"(shape {list(derived[name].shape)}): another grid size, head width or a modified model?"
                )
            continue
        if name not in wanted:
            raise CheckpointError(f"{source}: key {name} has no place in this model ({_describe(model)})")
        key = wanted[name]
        if _is_patch_embed(name):
            if value.ndim != 4 or value.shape[2:] != (1, 1):
                raise CheckpointError(f"{source}: {name} has shape {list(value.shape)}; replab needs patch size 1")
            value = value[:, :, 0, 0]
        if value.shape != ours[key].shape:
            raise CheckpointError(
                f"{source}: {name} has shape {list(value.shape)}, this model ({_describe(model)}) "
                f"expects {list(ours[key].shape)}"
            )
        loaded[key] = value
    missing = [name for name, key in wanted.items() if key not in loaded]
    if missing:
        raise CheckpointError(f"{source}: key {missing[0]} is missing ({len(missing)} missing in all)")
    model.load_state_dict(loaded)


def _describe(model: DiT) -> str:
    name = next((n for n, s in DIT_MODELS.items() if s == model.spec), "custom")
    return f"{name}, {model.channels}×{model.grid}×{model.grid} latents, {model.num_classes} classes"


def _pair(value: Any, where: str) -> list:
    if isinstance(value, (int, float)):
        return [value, value]
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return list(value)
    raise ConfigError(f"{where}: expected a number or a pair, got {value!r}")


def model_config_from_official(section: dict[str, Any], where: str = "stage_2") -> tuple[dict[str, Any], tuple]:
    """An official ``stage_2`` section → (replab ``model`` config dict, latent shape ``(C, h, w)``)."""
    target = str(section.get("target", ""))
    kind = target.rsplit(".", 1)[-1]
    if kind not in (DH_TARGET, PLAIN_TARGET):
        raise ConfigError(f"{where}.target: '{target}' is neither {DH_TARGET} nor {PLAIN_TARGET}")
    p = {**OFFICIAL_DEFAULTS, **(section.get("params") or {})}
    for field, wanted in (("wo_shift", False), ("learn_sigma", False), ("use_pos_embed", True), ("mlp_ratio", 4.0)):
        if p[field] != wanted:
            raise ConfigError(f"{where}.params.{field}: {p[field]!r} is not supported by replab (only {wanted!r})")
    if _pair(p["patch_size"], f"{where}.params.patch_size") != [1, 1]:
        raise ConfigError(f"{where}.params.patch_size: replab models RAE tokens at patch size 1, got {p['patch_size']}")
    if kind == DH_TARGET:
        (w, hw), (d, hd) = (
            _pair(p["hidden_size"], f"{where}.params.hidden_size"),
            _pair(p["depth"], f"{where}.params.depth"),
        )
        h, hh = _pair(p["num_heads"], f"{where}.params.num_heads")
        spec = DiTSpec(w, d, h, hw, hd, hh)
    else:
        spec = DiTSpec(int(p.get("hidden_size", 1152)), int(p.get("depth", 28)), int(p.get("num_heads", 16)))
    name = next((n for n, s in DIT_MODELS.items() if s == spec), None)
    if name is None:
        raise ConfigError(
            f"{where}.params: hidden_size/depth/num_heads {spec} match no model of replab's registry "
            f"({', '.join(DIT_MODELS)})"
        )
    model = {
        "name": name, "style": "official-rae", "class_conditional": True,
        "label_dropout": float(p["class_dropout_prob"]), "label_init_std": 0.02,
        "qk_norm": bool(p["use_qknorm"]), "rope": bool(p["use_rope"]), "swiglu": bool(p["use_swiglu"]),
        "rms_norm": bool(p["use_rmsnorm"]),
    }  # fmt: skip
    return model, (int(p["in_channels"]), int(p["input_size"]), int(p["input_size"]))


def transport_from_official(config: dict[str, Any], latent_shape: tuple) -> dict[str, Any]:
    misc, params = config.get("misc") or {}, (config.get("transport") or {}).get("params") or {}
    numel = math.prod(latent_shape)
    dim = int(misc.get("time_dist_shift_dim", numel))
    if dim != numel:
        raise ConfigError(
            f"misc.time_dist_shift_dim: {dim} is not the latent size {numel}; replab shifts by the latent size"
        )
    for field, wanted in (("path_type", "Linear"), ("prediction", "velocity")):
        if params.get(field, wanted) != wanted:
            raise ConfigError(f"transport.params.{field}: only {wanted!r} is supported, got {params[field]!r}")
    out: dict[str, Any] = {"shift": True, "shift_base": int(misc.get("time_dist_shift_base", 4096))}
    dist = str(params.get("time_dist_type", "uniform")).split("_")
    if dist[0] == "logit-normal" and len(dist) == 3:
        out.update(time_dist="logit-normal", logit_mean=float(dist[1]), logit_std=float(dist[2]))
    elif dist[0] == "uniform":
        out.update(time_dist="uniform")
    else:
        raise ConfigError(f"transport.params.time_dist_type: unknown '{params.get('time_dist_type')}'")
    return out


def guidance_from_official(config: dict[str, Any], autoguidance: str = "") -> dict[str, Any]:
    """The official ``sampler`` and ``guidance`` sections → replab's ``sample`` section (official grid)."""
    sampler = config.get("sampler") or {}
    params = sampler.get("params") or {}
    if sampler.get("mode", "ODE") != "ODE":
        raise ConfigError(f"sampler.mode: only the ODE sampler is supported, got {sampler.get('mode')!r}")
    method = str(params.get("sampling_method", "euler")).lower()
    methods = {"euler": "euler", "heun2": "heun", "heun": "heun"}
    if method not in methods:
        raise ConfigError(f"sampler.params.sampling_method: '{method}' is not one of {', '.join(methods)}")
    g = config.get("guidance") or {}
    scale = float(g.get("scale", 1.0))
    low, high = float(g.get("t_min", g.get("t-min", 0.0))), float(g.get("t_max", g.get("t-max", 1.0)))
    out: dict[str, Any] = {"sampler": methods[method], "steps": int(params.get("num_steps", 50)),
                           "schedule": "official-rae", "cfg_interval": [low, high], "cfg_scale": 1.0}  # fmt: skip
    if scale > 1.0 and g.get("method", "cfg") == "autoguidance":
        out.update(autoguidance=autoguidance, ag_scale=scale)
    elif scale > 1.0:
        out.update(cfg_scale=scale)
    return out


def import_official(
    checkpoint: str | Path, config_path: str | Path, rae: str | Path, out: str | Path, autoguidance: str = ""
) -> Path:
    """A released DiT-DH / LightningDiT checkpoint and its official YAML → a replab diffusion Run folder."""
    from replab.diffusion.config import DiffusionConfig, build_model
    from replab.rae.model import load_stats

    config_path = Path(config_path)
    try:
        official = yaml.safe_load(config_path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{config_path}: cannot read the official config ({exc})") from exc
    if "stage_2" not in official:
        raise ConfigError(f"{config_path}: no stage_2 section (is this an official RAE stage-2 config?)")
    model_dict, latent_shape = model_config_from_official(official["stage_2"])
    mean, _ = load_stats(Path(rae))
    if tuple(mean.shape) != latent_shape:
        raise ConfigError(f"{rae}: its latents are {list(mean.shape)}, the official model expects {list(latent_shape)}")
    guidance = guidance_from_official(official, autoguidance)
    if guidance.get("autoguidance") == "" and official.get("guidance", {}).get("method") == "autoguidance":
        print("note: this config samples with AutoGuidance; import the guide model too and pass it with "
              "--autoguidance RUN (or replab diffusion sample --autoguidance RUN)")  # fmt: skip
        guidance.pop("autoguidance")
        guidance["ag_scale"] = float(official["guidance"].get("scale", 1.5))
    raw = {"rae": str(Path(rae).resolve()), "model": model_dict,
           "transport": transport_from_official(official, latent_shape), "sample": guidance}  # fmt: skip
    config = from_dict(DiffusionConfig, raw, str(config_path))
    model = build_model(config, latent_shape, int((official["stage_2"].get("params") or {}).get("num_classes", 1000)))
    state, which = read_torch_state_dict(checkpoint)
    load_official(model, state, str(checkpoint))
    with Run(out, to_dict(config), kind="diffusion") as run:
        run.log(0, event="import-official", checkpoint=str(checkpoint), weights=which, config=str(config_path))
        run.save(0, {"model": model, "ema": copy.deepcopy(model)}, state={"imported_from": str(checkpoint)})
    print(f"imported {checkpoint} ({which}) as {model_dict['name']}, official-rae style → {out}")
    return Path(out)
