"""Copy a trained RAE run and a trained diffusion run into assets/ as minimal, bf16 run folders.

Each shipped folder is a normal replab run (config.yaml + checkpoints/step_N/model.safetensors), so
the same loaders read it; only the weights needed for sampling are kept (the RAE decoder, the
diffusion EMA), in bf16.
    .venv/bin/python tools/ship_fmnist_checkpoints.py runs/rae runs/dit
"""

import shutil
import sys
from pathlib import Path

import torch
import yaml
from safetensors.torch import load_file, save_file

ASSETS = Path(__file__).resolve().parent.parent / "src" / "replab" / "assets" / "runs"


def ship(run: Path, name: str, keep_prefix: str, extra_files: tuple[str, ...] = (), rae: str | None = None) -> Path:
    latest = sorted((run / "checkpoints").glob("step_*[0-9]"))[-1]
    target = ASSETS / name
    shutil.rmtree(target, ignore_errors=True)
    (target / "checkpoints" / latest.name).mkdir(parents=True)
    tensors = load_file(str(latest / "model.safetensors"))
    kept = {k: v.to(torch.bfloat16).contiguous() for k, v in tensors.items() if k.startswith(keep_prefix)}
    save_file(kept, str(target / "checkpoints" / latest.name / "model.safetensors"))
    shutil.copy(latest / "state.json", target / "checkpoints" / latest.name / "state.json")
    config = yaml.safe_load((run / "config.yaml").read_text())
    if rae is not None:
        config["rae"] = rae
    (target / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    for extra in extra_files:
        shutil.copy(run / extra, target / extra)
    shutil.copy(run / "metrics.jsonl", target / "metrics.jsonl")
    return target


if __name__ == "__main__":
    rae_run, dit_run = Path(sys.argv[1]), Path(sys.argv[2])
    print(ship(rae_run, "rae-fmnist", "decoder.", ("latent_stats.safetensors",)))
    print(ship(dit_run, "dit-dh-fmnist", "ema.", rae="../rae-fmnist"))
