"""``python -m replab.demo_rae_decoder``: stage 1 alone on the embedded default (Fashion-MNIST, the
shipped local-vit encoder), about ten minutes on 2 cores.

It trains an RAE decoder on the frozen encoder with the ``fmnist`` preset, reconstructs the test
split (PSNR, SSIM, rFD-fmnist), and writes ``runs/demo-rae/report.md`` with the grid, the figures and
the energy footprint. Rerunning resumes (or reuses) what is already in runs/demo-rae.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from replab.core.config import load_config  # noqa: E402
from replab.rae.model import RAEConfig  # noqa: E402
from replab.rae.reconstruct import reconstruct  # noqa: E402
from replab.rae.train import train_rae  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="runs/demo-rae")
    parser.add_argument("overrides", nargs="*", help="overrides for the RAE preset, e.g. train.steps=200")
    args = parser.parse_args(argv)
    out = Path(args.out)
    rae_run = out / "rae"
    print("== 1/2 train an RAE decoder on the frozen local-vit encoder (Fashion-MNIST)")
    train_rae(load_config(RAEConfig, "rae", "fmnist", args.overrides), rae_run)
    print("== 2/2 reconstruct the test split")
    results = reconstruct(rae_run, out / "recon.png")
    footprint = json.loads((rae_run / "footprint.json").read_text())
    report = out / "report.md"
    report.write_text(
        "# replab demo: representation autoencoder on Fashion-MNIST\n\n"
        f"Decoder trained by `replab rae train --preset fmnist --out {rae_run} {' '.join(args.overrides)}`.\n\n"
        "![originals above reconstructions](recon.png)\n\n"
        "| test images | PSNR (dB) | SSIM | rFD-fmnist |\n|---|---|---|---|\n"
        f"| {results['images']} | {results['psnr_db']:.2f} | {results['ssim']:.4f} | {results['rFD-fmnist']:.3f} |\n\n"
        f"rFD-fmnist uses {results['features']}.\n\n"
        "## Footprint of the training run\n\n"
        f"- duration {footprint['duration_s']:.0f} s, energy {footprint['energy_j']['total']:.0f} J, "
        f"{footprint['co2e_g']:.3f} gCO2e ({footprint['carbon']['country_name']}, "
        f"{footprint['carbon']['g_co2e_per_kwh']:.0f} g/kWh)\n"
        + "".join(f"- {c}: {m['method']}\n" for c, m in footprint["methods"].items())
    )
    print(f"report: {report}")


if __name__ == "__main__":
    main()
