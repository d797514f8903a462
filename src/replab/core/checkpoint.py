"""Checkpoints as safetensors plus a JSON state; written atomically so a kill never leaves half of one.

Layout of one checkpoint folder::

    step_00000100/
      model.safetensors      every module's weights, keys prefixed with the module's name
      optimizer.safetensors  optimizer tensors (moments, steps) and RNG states
      state.json             step, data position, optimizer hyper-parameters, anything JSON-able
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from replab.errors import CheckpointError

STATE_FILE = "state.json"


def module_tensors(modules: dict[str, torch.nn.Module]) -> dict[str, torch.Tensor]:
    return {
        f"{name}.{key}": value.detach().contiguous().cpu()
        for name, module in modules.items()
        for key, value in module.state_dict().items()
    }


def load_modules(modules: dict[str, torch.nn.Module], tensors: dict[str, torch.Tensor], source: str) -> None:
    """Load weights into modules; any missing key or shape mismatch is reported by name."""
    problems: list[str] = []
    for name, module in modules.items():
        prefix = f"{name}."
        saved = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        expected = module.state_dict()
        for key, value in expected.items():
            if key not in saved:
                problems.append(f"{prefix}{key} is missing there")
            elif tuple(saved[key].shape) != tuple(value.shape):
                problems.append(f"{prefix}{key} has shape {list(saved[key].shape)} there, {list(value.shape)} here")
        problems += [f"{prefix}{k} is there but not in this model" for k in saved if k not in expected]
    if problems:
        shown = "; ".join(problems[:6]) + (f"; and {len(problems) - 6} more" if len(problems) > 6 else "")
        raise CheckpointError(f"checkpoint {source} does not match this model (another model size or kind?): {shown}")
    for name, module in modules.items():
        prefix = f"{name}."
        module.load_state_dict({k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)})


def _optimizer_split(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"opt.{name}.{index}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _optimizer_join(name: str, tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    prefix = f"opt.{name}."
    for key, value in tensors.items():
        if key.startswith(prefix):
            index, field = key[len(prefix) :].split(".", 1)
            state.setdefault(int(index), {})[field] = value
    for index, entry in meta["scalars"].items():
        state.setdefault(int(index), {}).update(entry)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(
    folder: Path,
    modules: dict[str, torch.nn.Module],
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    generators: dict[str, torch.Generator] | None = None,
    state: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint to ``folder`` atomically (temp folder, then rename)."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(module_tensors(modules), str(tmp / "model.safetensors"))
    opt_tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {"optimizers": {}, "generators": []}
    for name, optimizer in (optimizers or {}).items():
        tensors, opt_meta = _optimizer_split(name, optimizer)
        opt_tensors.update(tensors)
        meta["optimizers"][name] = opt_meta
    for name, generator in (generators or {}).items():
        opt_tensors[f"rng.{name}"] = generator.get_state()
        meta["generators"].append(name)
    opt_tensors["rng.torch_global"] = torch.get_rng_state()
    save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
    meta.update(state or {})
    (tmp / STATE_FILE).write_text(json.dumps(meta, indent=1))
    _fsync_dir(tmp)
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    return folder


def load_checkpoint(
    folder: Path,
    modules: dict[str, torch.nn.Module],
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    generators: dict[str, torch.Generator] | None = None,
) -> dict[str, Any]:
    """Restore modules, optimizers and generators; returns the JSON state."""
    folder = Path(folder)
    if not (folder / STATE_FILE).exists():
        raise CheckpointError(f"{folder} is not a complete checkpoint (no {STATE_FILE})")
    meta = json.loads((folder / STATE_FILE).read_text())
    load_modules(modules, load_file(str(folder / "model.safetensors")), str(folder))
    if optimizers or generators:
        tensors = load_file(str(folder / "optimizer.safetensors"))
        for name, optimizer in (optimizers or {}).items():
            if name not in meta["optimizers"]:
                raise CheckpointError(f"checkpoint {folder} holds no optimizer '{name}'")
            optimizer.load_state_dict(_optimizer_join(name, tensors, meta["optimizers"][name]))
        for name, generator in (generators or {}).items():
            generator.set_state(tensors[f"rng.{name}"])
        torch.set_rng_state(tensors["rng.torch_global"])
    return meta


def _fsync_dir(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())


def read_torch_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], str]:
    """The weights of a released file: its ``ema`` entry where there is one (as the official loader does),
    else ``model``, else the file itself; DDP/compile prefixes removed. Returns (state dict, which)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle with other objects, a truncated download
        raise CheckpointError(f"{path}: cannot be read as a PyTorch state dict ({exc})") from exc
    which = "state dict"
    if isinstance(raw, dict) and isinstance(raw.get("ema"), dict):
        raw, which = raw["ema"], "ema"
    elif isinstance(raw, dict) and isinstance(raw.get("model"), dict):
        raw, which = raw["model"], "model (no EMA in the file)"
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors (or one under 'ema' / 'model')")
    state = {}
    for key, value in raw.items():
        for prefix in ("module.", "_orig_mod."):
            key = key[len(prefix) :] if key.startswith(prefix) else key
        state[key] = value
    return state, which
