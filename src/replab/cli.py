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


def _add_guidance(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sampler", choices=["euler", "heun"], default=None, help="default: the run's")
    parser.add_argument("--cfg", type=float, default=1.0, help="classifier-free guidance scale (1 = none)")
    parser.add_argument("--cfg-interval", default="0,1", help="guide only for t in [a,b], e.g. 0.1,1")
    parser.add_argument("--autoguidance", default=None, metavar="RUN", help="a weaker diffusion run, same latents")
    parser.add_argument("--ag-scale", type=float, default=1.5)


def _guidance(args: argparse.Namespace):
    from replab.core.errors import ConfigError
    from replab.diffusion.samplers import GuidanceConfig

    try:
        low, high = (float(v) for v in args.cfg_interval.split(","))
    except ValueError:
        raise ConfigError(
            f"--cfg-interval {args.cfg_interval!r}: expected two numbers a,b with 0 <= a < b <= 1"
        ) from None
    if not 0 <= low < high <= 1:
        raise ConfigError(f"--cfg-interval {args.cfg_interval!r}: expected 0 <= a < b <= 1")
    return GuidanceConfig(cfg_scale=args.cfg, cfg_interval=(low, high), ag_scale=args.ag_scale)


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

    dif = systems.add_parser("diffusion", help="DiT / DiT-DH in RAE latent space (stage 2)")
    dif = dif.add_subparsers(dest="verb", required=True)
    p = dif.add_parser("train", help="train a flow-matching DiT on an RAE run's latents")
    _add_preset(p, "fmnist")
    p.add_argument("--rae", default=None, help="the RAE run (overrides the preset's rae)")
    p.add_argument("--out", required=True)
    p = dif.add_parser("sample", help="sample a grid (one row per class when conditional)")
    p.add_argument("--run", required=True)
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--steps", type=int, default=None, help="sampling steps (default: the run's, 50)")
    _add_guidance(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)

    ev = systems.add_parser("eval", help="evaluation tools").add_subparsers(dest="verb", required=True)
    p = ev.add_parser("fd", help="Fréchet distance and precision/recall of a diffusion run's samples")
    p.add_argument("--run", required=True)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--features", default="fd-fmnist", choices=["fd-fmnist", "inception"])
    _add_guidance(p)
    p.add_argument("--out", default=None, help="the evaluation run (default: RUN/evals/fd)")
    p = ev.add_parser("train-features", help="train the FD-fmnist feature network")
    _add_preset(p, "fd-fmnist")
    p.add_argument("--out", required=True)

    jd = systems.add_parser("judge", help="DITING translation evaluation with LLM judges")
    jd = jd.add_subparsers(dest="verb", required=True)
    p = jd.add_parser("translate", help="the system under test translates each item")
    p.add_argument("--data", required=True, help="DITING JSONL or the official Label Studio export")
    p.add_argument("--backend", required=True, help="openai:<model>")
    p.add_argument("--base-url", default=None, help="any OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--out", required=True)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--max-tokens", type=int, default=256)
    p = jd.add_parser("score", help="BLEU, chrF++, single judge, AgentEval for every (item, system)")
    p.add_argument("--run", required=True)
    p.add_argument("--metrics", default="bleu,chrf,agenteval")
    p.add_argument("--judge-backend", default=None)
    p.add_argument("--base-url", default=None)
    p.add_argument("--reference-aware", action="store_true", help="show the reference to the judges")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--max-tokens", type=int, default=300)
    p = jd.add_parser("meta", help="correlation of each metric with human scores, with bootstrap CIs")
    p.add_argument("--run", required=True)
    p.add_argument("--human", default=None, help="data file with human scores (default: the run's data)")

    em = systems.add_parser("embed", help="LCO-EMB: generative LMs as embedding models")
    em = em.add_subparsers(dest="verb", required=True)
    p = em.add_parser("train", help="text-only contrastive LoRA")
    _add_preset(p, "smollm2-wordnet")
    p.add_argument("--out", required=True)
    p = em.add_parser("eval", help="held-out WordNet retrieval (nDCG@10, Recall@1/10, MRR), anisotropy, mutual kNN")
    p.add_argument("--model", required=True, help="a run of 'embed train', a model folder, 'smollm2' or 'minilm'")
    p.add_argument("--baseline", action="append", default=[], help="also evaluate this model (e.g. minilm)")
    p.add_argument("--tasks", default="gloss,example", help="gloss (definition→lemma), example (example→definition)")
    p.add_argument("--held-out", type=int, default=1000)
    p.add_argument("--docs", type=int, default=5000)
    p.add_argument("--out", default=None, help="JSON results (default: <run>/evals/wordnet.json for a run)")
    p = em.add_parser("anisotropy", help="mean pairwise cosine of random WordNet definitions, per layer")
    p.add_argument("--model", required=True)
    p.add_argument("--n", type=int, default=500)
    p = em.add_parser("grsl", help="generation-representation scaling: perplexity vs retrieval after tuning")
    _add_preset(p, "grsl")
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
    elif args.system == "diffusion":
        if args.verb == "train":
            from replab.diffusion.train import DiffusionConfig, train_diffusion

            overrides = args.overrides + ([f"rae={args.rae}"] if args.rae else [])
            train_diffusion(load_config(DiffusionConfig, "diffusion", args.preset, overrides), args.out)
        else:
            from replab.diffusion.sample import sample_grid

            path = sample_grid(
                args.run, args.n, args.out, args.steps, args.sampler, _guidance(args), args.autoguidance, args.seed
            )
            print(f"samples: {path}")
    elif args.system == "eval":
        if args.verb == "fd":
            from replab.diffusion.evaluate import evaluate_fd

            results = evaluate_fd(
                args.run, args.n, args.steps, args.features, out=args.out, guidance=_guidance(args),
                sampler=args.sampler, weak_run=args.autoguidance,
            )  # fmt: skip
            for key, value in results.items():
                print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
        elif args.verb == "train-features":
            from replab.metrics.features import FeatureNetConfig, train_feature_net

            config = load_config(FeatureNetConfig, "features", args.preset, args.overrides)
            print(f"feature network exported to {train_feature_net(config, args.out)}")
    elif args.system == "judge":
        from replab.judge import pipeline

        if args.verb == "translate":
            from replab.judge.backends import GenerationParams

            out = pipeline.translate(args.data, args.backend, args.out, args.base_url, args.concurrency, args.limit,
                                     GenerationParams(max_tokens=args.max_tokens))  # fmt: skip
            print(f"translations: {out / 'results.jsonl'}")
        elif args.verb == "score":
            metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
            out = pipeline.score(args.run, metrics, args.judge_backend, args.base_url, args.concurrency,
                                 args.limit, args.reference_aware, args.max_tokens)  # fmt: skip
            print(f"scores: {out / 'results.jsonl'}")
        else:
            table, png = pipeline.meta(args.run, args.human)
            print(table)
            print(f"plot: {png}")
    elif args.system == "embed":
        _embed(args)
    elif args.system == "footprint":
        from replab.footprint import report

        if args.verb == "report":
            print(report.report(args.runs, args.png))
        else:
            print(report.compare(args.run_a, args.run_b))
    return None


def _embed(args: argparse.Namespace) -> None:
    from pathlib import Path

    from replab.core.config import load_config

    if args.verb == "train":
        from replab.embed.train import EmbedConfig, train_embedder

        folder = train_embedder(load_config(EmbedConfig, "embed", args.preset, args.overrides), args.out)
        print(f"adapter: {folder / 'adapter'}\nmerged model (sentence-transformers folder): {folder / 'model'}")
    elif args.verb == "eval":
        from replab.embed import evaluate

        tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
        rows = {}
        for name in [args.model, *args.baseline]:
            encoder = evaluate.load_encoder(name)
            rows[name] = evaluate.evaluate_wordnet(encoder, args.held_out, args.docs, tasks=tasks)
        print(evaluate.format_table(rows))
        out = Path(args.out) if args.out else None
        if out is None and (Path(args.model) / "config.yaml").exists():
            out = Path(args.model) / "evals" / "wordnet.json"
        if out:
            evaluate.save_result(rows, out)
            print(f"results: {out}")
    elif args.verb == "anisotropy":
        from replab.embed import evaluate

        embedder = evaluate.load_encoder(args.model)
        values = evaluate.anisotropy_per_layer(embedder, evaluate.random_texts(args.n))
        for layer, value in enumerate(values):
            print(f"  layer {layer:2d}: {value:.3f}")
    else:
        from replab.embed.grsl import GRSLConfig, run_grsl

        print(run_grsl(load_config(GRSLConfig, "embed", args.preset, args.overrides), args.out))


if __name__ == "__main__":
    sys.exit(main())
