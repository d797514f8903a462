"""Ship the fair-diffusion benchmark generator and its probes into assets/ (same reduction as the fmnist runs).

    .venv/bin/python tools/ship_fair_run.py runs/fair/dit-tone10x runs/fair/tone-10x \
        runs/fair/probe-tone-recon runs/fair/probe-tone-t

The diffusion run keeps its EMA in bf16, names the shipped `rae-fmnist` (the same decoder: its fingerprint is
checked) and carries its `tone-10x` subset (benchmark.json + indices.json) inside its folder; each probe keeps
what `load_probe` reads (weights, the record with its held-out confusion) and its config and log.
"""

import shutil
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ship_fmnist_checkpoints import ASSETS, ship  # noqa: E402

from replab.rae.latent_cache import latents_fingerprint  # noqa: E402

PROBE_FILES = ("probe.json", "probe.safetensors", "config.yaml", "metrics.jsonl")


def ship_generator(run: Path, subset: Path, name: str = "dit-dh-tone10x") -> Path:
    rae = yaml.safe_load((run / "config.yaml").read_text())["rae"]
    if latents_fingerprint(rae) != latents_fingerprint(ASSETS / "rae-fmnist"):
        raise SystemExit(f"{run} was trained on the latents of {rae}, not on the shipped rae-fmnist's")
    target = ship(run, name, "ema.", rae="../rae-fmnist")
    (target / subset.name).mkdir()
    for file in ("benchmark.json", "indices.json"):
        shutil.copy(subset / file, target / subset.name / file)
    config = yaml.safe_load((target / "config.yaml").read_text())
    config["subset"] = subset.name
    (target / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return target


def ship_probe(probe: Path, name: str) -> Path:
    target = ASSETS.parent / "probes" / name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for file in PROBE_FILES:
        shutil.copy(probe / file, target / file)
    return target


if __name__ == "__main__":
    run, subset, probe, guide_probe = map(Path, sys.argv[1:5])
    print(ship_generator(run, subset))
    print(ship_probe(probe, "tone"))
    print(ship_probe(guide_probe, "tone-noise-aware"))
