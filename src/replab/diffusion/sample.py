"""``replab diffusion sample``: images from a trained diffusion run (EMA weights), decoded by its RAE."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file

from replab.core.checkpoint import load_modules
from replab.core.config import from_dict
from replab.core.images import save_grid
from replab.core.inference import fast_forward, in_parallel
from replab.core.paths import beside_run
from replab.core.progress import FRACTIONAL, progress_bar
from replab.core.run import Run
from replab.diffusion.config import DiffusionConfig, build_model
from replab.diffusion.models import DiT
from replab.diffusion.samplers import SAMPLERS, GuidanceConfig, Velocity, guided_velocity
from replab.diffusion.transport import Transport
from replab.errors import CheckpointError, ConfigError
from replab.rae.model import RAE, load_rae

resolve_rae = beside_run  # a diffusion run's ``rae``: from the working directory, else beside the run


def load_diffusion(run_folder: str | Path, device: str | torch.device = "cpu") -> tuple[DiT, DiffusionConfig, RAE]:
    """The EMA model of a diffusion run's newest checkpoint, its config and its RAE."""
    folder = Path(run_folder)
    raw = Run.read_config(folder)
    if raw.get("kind") != "diffusion":
        raise ConfigError(f"{folder} is a '{raw.get('kind')}' run, not a diffusion run")
    config = from_dict(DiffusionConfig, {k: v for k, v in raw.items() if k != "kind"}, str(folder / "config.yaml"))
    checkpoints = sorted((folder / "checkpoints").glob("step_*[0-9]"))
    if not checkpoints:
        raise CheckpointError(f"{folder} holds no checkpoint yet; train it with 'replab diffusion train'")
    tensors = load_file(str(checkpoints[-1] / "model.safetensors"))
    if not any(key.startswith("ema.") for key in tensors):
        raise CheckpointError(f"{checkpoints[-1]} holds no EMA weights ('ema.*'): sampling uses EMA weights")
    rae, _ = load_rae(resolve_rae(config.rae, folder), device)
    num_classes = int(tensors["ema.y_embed.table.weight"].shape[0]) - 1 if "ema.y_embed.table.weight" in tensors else 0
    model = build_model(config, rae.latent_shape, num_classes)
    load_modules({"ema": model}, tensors, str(checkpoints[-1]))
    return model.to(device).eval(), config, rae


def run_guidance(run_folder: str | Path) -> GuidanceConfig:
    """The sampling setting a diffusion run records (its config's ``sample`` section)."""
    raw = Run.read_config(run_folder)
    if raw.get("kind") != "diffusion":
        raise ConfigError(f"{run_folder} is a '{raw.get('kind')}' run, not a diffusion run")
    return from_dict(GuidanceConfig, raw.get("sample") or {}, f"{Path(run_folder) / 'config.yaml'}:sample")


FAST_BATCH = 32  # rows per sampler call on the fast path: measured fastest on 2 cores (benchmarks/RESULTS.md)


def load_guide(guidance: GuidanceConfig, device: str | torch.device = "cpu") -> DiT | None:
    """The weak model AutoGuidance names (``guidance.autoguidance``), or None."""
    return load_diffusion(guidance.autoguidance, device)[0] if guidance.autoguidance else None


def _check_inputs(model: DiT, labels: torch.Tensor | None, weak_model: DiT | None) -> None:
    if model.num_classes:
        if labels is None:
            raise ConfigError("this model is class-conditional: give labels")
        if labels.min() < 0 or labels.max() >= model.num_classes:
            raise ConfigError(f"class label out of range: labels must be in 0..{model.num_classes - 1}")
    if weak_model is not None and (weak_model.channels, weak_model.grid) != (model.channels, model.grid):
        raise ConfigError(
            f"the guidance model works on {weak_model.channels}×{weak_model.grid}×{weak_model.grid} latents, "
            f"this model on {model.channels}×{model.grid}×{model.grid}: AutoGuidance needs the same latent shape"
        )


@torch.no_grad()
def generate(
    model: DiT,
    rae: RAE,
    config: DiffusionConfig,
    *,
    n: int,
    labels: torch.Tensor | None = None,
    guidance: GuidanceConfig | None = None,
    weak_model: DiT | None = None,
    seed: int = 0,
    batch_size: int = 250,
    steer: Callable[[Velocity, slice], Velocity] | None = None,
    shard: tuple[int, int] = (0, 1),
) -> torch.Tensor:
    """``n`` images in [0, 1]; ``labels`` (one per image) for class-conditional models. ``guidance``
    defaults to the run's own ``sample`` section; AutoGuidance uses ``weak_model`` (see ``load_guide``).
    ``steer(velocity, rows)`` may wrap the velocity of the batch holding ``rows`` (e.g. attribute guidance).
    ``shard=(rank, world)``: only batches ``b`` with ``b % world == rank`` are sampled (their noise is the
    single-process noise), so ranks that gather them with ``dist.gather_batches`` get one process's samples."""
    guidance = guidance or config.sample
    guidance.validate()
    _check_inputs(model, labels, weak_model)
    grid = sampling_grid(config, rae.latent_shape, guidance)
    steps = len(grid) - 1
    generator = torch.Generator().manual_seed(seed)  # on the CPU: the same samples on any device
    device = next(model.parameters()).device
    images = []
    rank, world = shard
    mine = sum(min(batch_size, n - start) for b, start in enumerate(range(0, n, batch_size)) if b % world == rank)
    with progress_bar(mine, "sample", unit="img", bar_format=FRACTIONAL) as bar:  # advances every ODE step
        for b, start in enumerate(range(0, n, batch_size)):
            count = min(batch_size, n - start)
            if b % world != rank:
                torch.randn((count, *rae.latent_shape), generator=generator)  # keep the noise stream in step
                continue
            noise = torch.randn((count, *rae.latent_shape), generator=generator).to(device)
            part = count if guidance.exact else FAST_BATCH  # the same noise, integrated in cache-sized parts

            def integrate(first: int, noise=noise, start=start, count=count, part=part) -> torch.Tensor:
                rows = slice(start + first, start + min(count, first + part))
                y = labels[rows].to(device) if model.num_classes else None
                velocity = guided_velocity(model, y, guidance, weak_model, model.null_label)
                if steer is not None:
                    velocity = steer(velocity, rows)
                z = noise[first : first + part]
                with torch.no_grad(), fast_forward(device, enabled=not guidance.exact):
                    latents = SAMPLERS[guidance.sampler](velocity, z, grid, lambda c=len(z): bar.update(c / steps))
                    return rae.decode(latents).float()

            parts = [lambda first=first: integrate(first) for first in range(0, count, part)]
            images += in_parallel(parts, device) if not guidance.exact else [run() for run in parts]
    return torch.cat(images) if images else torch.empty(0)


def sampling_grid(config: DiffusionConfig, latent_shape: tuple[int, ...], guidance: GuidanceConfig) -> torch.Tensor:
    """The times ``guidance`` integrates over, for a run's transport and latent shape."""
    transport = Transport(config.transport, latent_shape)
    return transport.grid(guidance.steps, schedule=guidance.schedule, extra_shift=guidance.grid_shift)


def class_grid_labels(num_classes: int, n: int) -> torch.Tensor:
    """Labels for a grid with one row per class (``n`` rounded down to whole rows)."""
    per_row = max(1, n // max(1, num_classes))
    return torch.arange(num_classes).repeat_interleave(per_row)


def sample_grid(
    run_folder: str | Path, n: int, out: str | Path, guidance: GuidanceConfig | None = None, seed: int = 0
) -> Path:
    """A grid PNG of ``n`` samples, one row per class; ``guidance`` defaults to the run's sample section."""
    model, config, rae = load_diffusion(run_folder)
    guidance = guidance or config.sample
    labels = class_grid_labels(model.num_classes, n) if model.num_classes else None
    count = len(labels) if labels is not None else n
    images = generate(model, rae, config, n=count, labels=labels, guidance=guidance, weak_model=load_guide(guidance),
                      seed=seed)  # fmt: skip
    per_row = count // model.num_classes if model.num_classes else min(8, count)
    rows = [images[i : i + per_row] for i in range(0, count, per_row)]
    return save_grid(rows, out, scale=4 if images.shape[-1] <= 64 else 1)
