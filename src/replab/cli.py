"""The ``replab`` command. Thin: it parses arguments and calls one function per verb."""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spin-waiting halves throughput under contention
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from replab.core.errors import ReplabError  # noqa: E402


def _add_preset(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--preset", default=default, help=f"named preset or a YAML path (default: {default})")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.steps=200")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="replab", description=__doc__)
    systems = parser.add_subparsers(dest="system", required=True)

    rae = systems.add_parser("rae", help="representation autoencoders (stage 1)").add_subparsers(
        dest="verb", required=True
    )
    p = rae.add_parser("pretrain-encoder", help="pre-train the local-vit encoder")
    _add_preset(p, "local-vit-fmnist")
    p.add_argument("--out", required=True)
    p = rae.add_parser("train", help="train an RAE decoder on a frozen encoder")
    _add_preset(p, "fmnist")
    p.add_argument("--out", required=True)
    p = rae.add_parser("reconstruct", help="reconstruct the test split; print PSNR, SSIM, rFD; save a grid")
    p.add_argument("--run", required=True)
    p.add_argument("--out", default=None, help="grid PNG (default: <run>/artifacts/recon.png)")
    p.add_argument("--n", type=int, default=None, help="test images to evaluate (default: all)")
    p.add_argument("--grid", type=int, default=16, help="images shown in the grid")

    ev = systems.add_parser("eval", help="evaluation tools").add_subparsers(dest="verb", required=True)
    p = ev.add_parser("train-features", help="train the FD-fmnist feature network")
    _add_preset(p, "fd-fmnist")
    p.add_argument("--out", required=True)

    fp = systems.add_parser("footprint", help="energy and carbon of runs").add_subparsers(dest="verb", required=True)
    p = fp.add_parser("report", help="table over runs + bar chart PNG")
    p.add_argument("runs", nargs="+", help="run folders or folders of runs")
    p.add_argument("--png", default=None, help="bar chart path (default: <first folder>/footprint.png)")
    p = fp.add_parser("compare", help="energy per unit of work, side by side")
    p.add_argument("run_a")
    p.add_argument("run_b")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args) or 0
    except ReplabError as exc:
        print(f"replab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("replab: interrupted; rerun the same command to resume from the last checkpoint", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int | None:
    from replab.core.config import load_config

    if args.system == "rae":
        if args.verb == "pretrain-encoder":
            from replab.rae.pretrain import EncoderPretrainConfig, pretrain_encoder

            config = load_config(EncoderPretrainConfig, "encoder", args.preset, args.overrides)
            print(f"encoder exported to {pretrain_encoder(config, args.out)}")
        elif args.verb == "train":
            from replab.rae.train import RAEConfig, train_rae

            train_rae(load_config(RAEConfig, "rae", args.preset, args.overrides), args.out)
        elif args.verb == "reconstruct":
            from replab.rae.reconstruct import reconstruct

            reconstruct(args.run, args.out, n=args.n, grid=args.grid)
    elif args.system == "eval":
        if args.verb == "train-features":
            from replab.metrics.features import FeatureNetConfig, train_feature_net

            config = load_config(FeatureNetConfig, "features", args.preset, args.overrides)
            print(f"feature network exported to {train_feature_net(config, args.out)}")
    elif args.system == "footprint":
        from replab.footprint import report

        if args.verb == "report":
            print(report.report(args.runs, args.png))
        else:
            print(report.compare(args.run_a, args.run_b))
    return None


if __name__ == "__main__":
    sys.exit(main())
