"""Sampler error at equal network evaluations: replab's samplers against the official RAE sampler (issue 48).

FD is not available on a random network, so the samplers are compared on trajectories: each sampler's endpoint
against a reference (1,000 Heun steps to t = 0; float64 on the random network, float32 on the shipped one)
of the same ODE, as the relative RMS error
``‖x − x_ref‖ / ‖x_ref‖``, at the network evaluations (NFE) each sampler spends per sample. The official code's
samplers (``stage2.transport.Sampler.sample_ode``: torchdiffeq's fixed-step ``euler`` and ``heun2`` on the
official grid, and its default adaptive ``dopri5``, atol 1e-6, rtol 1e-3) are run from the official checkout;
the official ``forward_with_cfg`` evaluates both CFG halves at every call, so each of its calls counts 2.

1. The official ``DiTwDDTHead`` at its parity-test size (16×16×64 latents; hidden 64/128, depth 2/2), at
   random weights moved off the initialisation, converted to replab with ``load_official`` (as
   ``import-official`` does); CFG 3 over the whole of t. (The paper's DiT-DH-S would need 12 minutes of this
   CPU per image for the reference alone.)
2. The shipped, trained DiT-DH-XS (7×7×128), its velocity driven by the official integrator and by replab's
   samplers, with the guidance of the shipped run's ``sample`` section.

    git clone https://github.com/bytetriper/RAE /path/RAE
    pip install --target /tmp/official-deps --no-deps einops torchdiffeq
    PYTHONPATH=/tmp/official-deps .venv/bin/python -m benchmarks.sampler_error --official /path/RAE
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch

from benchmarks.official_parity import TINY, official_modules, perturb, replab_dit
from benchmarks.sampling_speed import cpu_model
from replab import ASSETS
from replab.diffusion.official import load_official
from replab.diffusion.sample import load_diffusion
from replab.diffusion.samplers import SAMPLERS, GuidanceConfig, evaluations, guided_velocity
from replab.diffusion.transport import Transport, TransportConfig

REPLAB_STEPS = {"euler": (10, 16, 25, 50), "heun": (5, 8, 13, 25), "adams2": (8, 10, 12, 16, 25),
                "dpm++2m": (8, 10, 12, 16, 25)}  # fmt: skip
GRID_SHIFTS = (1.0, 4.0)  # the shifted grid, and the shipped run's default: 4× further towards noise
OFFICIAL_STEPS = {"euler": (11, 17, 26, 51), "heun2": (6, 9, 14, 26)}  # grid points: steps + 1


def relative_error(x: torch.Tensor, reference: torch.Tensor) -> float:
    return ((x - reference).norm() / reference.norm()).item()


class Counted:
    """A velocity that counts its calls; ``per_call`` evaluations each (2: both CFG halves)."""

    def __init__(self, velocity, per_call: int) -> None:
        self.velocity, self.per_call, self.calls = velocity, per_call, 0

    def __call__(self, x: torch.Tensor, t: torch.Tensor, **_) -> torch.Tensor:
        self.calls += 1
        return self.velocity(x, float(t.flatten()[0]))

    @property
    def nfe(self) -> int:
        return self.calls * self.per_call


def compare(velocity, noise: torch.Tensor, guidance: GuidanceConfig, transport: Transport, sampler_cls,
            create_transport) -> dict:  # fmt: skip
    """Every sampler's relative error and NFE on ``velocity`` from ``noise``; replab's on the shifted grid and on
    the shipped run's default grid (``GRID_SHIFTS``)."""
    reference = SAMPLERS["heun"](velocity, noise, transport.grid(1000))
    rows = []
    for shift in GRID_SHIFTS:
        for name, steps in REPLAB_STEPS.items():
            for n in steps:
                grid = transport.grid(n, extra_shift=shift)
                x = SAMPLERS[name](velocity, noise, grid)
                nfe = evaluations(dataclasses.replace(guidance, sampler=name), grid)
                rows.append({"code": "replab", "sampler": name, "steps": n, "grid_shift": shift, "nfe": nfe,
                             "error": relative_error(x, reference)})  # fmt: skip
    official = sampler_cls(create_transport("Linear", "velocity", time_dist_shift=transport.alpha))
    for method, points in [*OFFICIAL_STEPS.items(), ("dopri5", (50,))]:
        for n in points:
            counted = Counted(velocity, 2)
            x = official.sample_ode(sampling_method=method, num_steps=n)(noise, counted)[-1]
            rows.append({"code": "official", "sampler": method, "steps": n - 1, "nfe": counted.nfe,
                         "error": relative_error(x, reference)})  # fmt: skip
    return {"rows": rows, "reference_rms": reference.pow(2).mean().sqrt().item()}


@torch.no_grad()
def random_official(root: Path, batch: int) -> dict:
    ddt, _, _, _, create_transport, sampler_cls = official_modules(root)
    torch.manual_seed(0)
    theirs = ddt(**TINY).eval()
    perturb(theirs, 5)
    ours = replab_dit(TINY).eval()
    load_official(ours, theirs.state_dict(), "official")
    ours = ours.double()
    shape = (TINY["in_channels"], TINY["input_size"], TINY["input_size"])
    g = torch.Generator().manual_seed(6)
    noise = torch.randn(batch, *shape, generator=g, dtype=torch.float64)
    y = torch.randint(0, TINY["num_classes"], (batch,), generator=g)
    guidance = GuidanceConfig(cfg_scale=3.0, exact=True)
    velocity = guided_velocity(ours, y, guidance, null_label=TINY["num_classes"])
    return compare(velocity, noise, guidance, Transport(TransportConfig(), shape), sampler_cls, create_transport)


@torch.no_grad()
def shipped(root: Path, batch: int) -> dict:
    _, _, _, _, create_transport, sampler_cls = official_modules(root)
    model, config, rae = load_diffusion(ASSETS / "runs" / "dit-dh-fmnist")
    noise = torch.randn(batch, *rae.latent_shape, generator=torch.Generator().manual_seed(0))  # fp32: the model's
    guidance = dataclasses.replace(config.sample, exact=True)
    velocity = guided_velocity(model, torch.arange(batch) % 10, guidance, null_label=model.null_label)
    result = compare(velocity, noise, guidance, Transport(config.transport, rae.latent_shape), sampler_cls,
                     create_transport)  # fmt: skip
    return {**result, "guidance": dataclasses.asdict(guidance)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", required=True, help="a checkout of github.com/bytetriper/RAE")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--parts", nargs="+", choices=sorted(PARTS), default=sorted(PARTS))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/figures/sampler_error.json"))
    args = parser.parse_args()
    results = json.loads(args.out.read_text()) if args.out.exists() else {"cpu": cpu_model(), "batch": args.batch}
    for part in args.parts:
        results[part] = PARTS[part](Path(args.official), args.batch)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
        print(f"== {part}")
        for row in sorted(
            results[part]["rows"], key=lambda r: (r["code"], r["sampler"], r.get("grid_shift", 0), r["nfe"])
        ):
            print(f"  {row['code']:8s} {row['sampler']:8s} steps {row['steps']:3d} shift {row.get('grid_shift', '-')}  "
                  f"NFE {row['nfe']:4d}  error {row['error']:.2e}", flush=True)  # fmt: skip


PARTS = {"random_official_tiny": random_official, "shipped_dit_dh_xs": shipped}


if __name__ == "__main__":
    main()
