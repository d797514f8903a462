"""The ``replab`` command. Thin: it parses arguments and calls one function per verb; output paths,
defaults and reports belong to the systems."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spin-waiting halves throughput under contention
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from replab.core.paths import check_file_out  # noqa: E402
from replab.errors import ConfigError, ReplabError  # noqa: E402


class Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (the command, the flag, what was wrong), without the usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(kind: type, low: float, strict: bool = False):
    """An argparse type: ``kind`` (int or float) at least ``low`` (above it when ``strict``)."""
    words = {int: "a whole number", float: "a number"}[kind]
    bound = f"> {low:g}" if strict else f">= {low:g}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {words} {bound}, got {text!r}") from None
        if value != value or value < low or (strict and value == low):  # NaN, or out of its domain
            raise argparse.ArgumentTypeError(f"expected {words} {bound}, got {text!r}")
        return value

    return parse


COUNT = _number(int, 1)  # images, items, steps, tokens: one at least
NATURAL = _number(int, 0)
SCALE = _number(float, 0)  # guidance scales, temperatures
SECONDS = _number(float, 0, strict=True)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _add_preset(parser: argparse.ArgumentParser, default: str, out: bool = True) -> None:
    parser.add_argument("--preset", default=default, help=f"named preset or a YAML path (default: {default})")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.steps=200")
    if out:
        parser.add_argument("--out", required=True, help="the run folder (rerun the same command to resume)")


def _add_guidance(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sampler", default=None, help="euler, heun, adams2 or dpm++2m (default: the run's "
                        "sample.sampler)")  # fmt: skip
    parser.add_argument("--steps", type=COUNT, default=None, help="sampling steps (default: the run's sample.steps)")
    parser.add_argument("--grid-shift", type=_number(float, 0, strict=True), default=None,
                        help="extra shift of the time grid (> 1: steps nearer noise; default: the run's)")  # fmt: skip
    parser.add_argument("--cfg", type=SCALE, default=None, help="classifier-free guidance scale (1 = none; "
                        "default: the run's sample.cfg_scale)")  # fmt: skip
    parser.add_argument("--cfg-interval", default=None, help="guide only for t in [a,b], e.g. 0.1,1")
    parser.add_argument("--autoguidance", default=None, metavar="RUN", help="a weaker diffusion run, same latents")
    parser.add_argument("--ag-scale", type=SCALE, default=None, help="AutoGuidance scale (default: the run's)")
    parser.add_argument("--schedule", default=None, help="time grid: replab (steps to t=0) or official-rae (the "
                        "official sampler's; default: the run's)")  # fmt: skip
    parser.add_argument("--exact", action="store_true", default=None,
                        help="exact sampling: default fp32 numerics, CFG as two calls (parity checks); default: "
                        "the fast path (fused CFG, oneDNN linears, bf16 where the hardware has it)")  # fmt: skip


def _guidance(args: argparse.Namespace, base=None):
    """The run's sample section (``base``) with the guidance flags given on the command line applied."""
    from replab.diffusion.samplers import GuidanceConfig, parse_interval

    given = {"sampler": args.sampler, "steps": args.steps, "cfg_scale": args.cfg, "autoguidance": args.autoguidance,
             "ag_scale": args.ag_scale, "schedule": args.schedule, "exact": args.exact,
             "grid_shift": args.grid_shift}  # fmt: skip
    if args.cfg_interval is not None:
        given["cfg_interval"] = parse_interval(args.cfg_interval, "--cfg-interval")
    guidance = dataclasses.replace(base or GuidanceConfig(), **{k: v for k, v in given.items() if v is not None})
    guidance.validate("the sampling flags")
    return guidance


# ---- parsers, one per system -----------------------------------------------------------------------
def _rae_parser(verbs) -> None:
    p = verbs.add_parser("pretrain-encoder", help="pre-train the local-vit encoder (MAE + a light class term)")
    _add_preset(p, "local-vit-fmnist")
    p = verbs.add_parser("train", help="train an RAE decoder on a frozen encoder")
    _add_preset(p, "fmnist")
    p = verbs.add_parser("reconstruct", help="reconstruct the test split; print PSNR, SSIM, rFD; save a grid")
    p.add_argument("--run", required=True, help="an RAE run folder")
    p.add_argument(
        "--out",
        default=None,
        help="grid PNG (default: in the evaluation run, <run>/evals/reconstruct or ./runs/<run>-reconstruct)",
    )
    p.add_argument("--n", type=COUNT, default=None, help="test images to evaluate (default: all)")
    p.add_argument("--grid", type=COUNT, default=16, help="images shown in the grid")
    p = verbs.add_parser("encode", help="write a split's latents to sharded files (resumable; torchrun splits shards)")
    p.add_argument("--rae", required=True, help="the RAE run")
    p.add_argument("--out", default=None, help="the cache folder (default: <rae>/latents/<split>-cache)")
    p.add_argument("--split", default="train", choices=["train", "test"])
    p.add_argument("--shard-size", type=COUNT, default=1000, help="latents per shard file")
    p.add_argument("--batch-size", type=COUNT, default=256)
    p = verbs.add_parser("import-official", help="a released official RAE decoder + stat.pt → a replab RAE run")
    p.add_argument("--config", default=None, help="an official YAML whose stage_1 names the files (with --root)")
    p.add_argument("--root", default=None, help="the folder the official YAML's paths are relative to (default: .)")
    p.add_argument("--decoder", default=None, help="the decoder weights (model.pt); overrides the YAML")
    p.add_argument("--decoder-config", default=None, help="the decoder's config.json; overrides the YAML")
    p.add_argument("--stats", default=None, help="the latent statistics (stat.pt); overrides the YAML")
    p.add_argument("--encoder", default=None, choices=["dinov2", "siglip2", "mae"], help="default: dinov2")
    p.add_argument("--encoder-weights", default=None, help="hub id or local folder of the encoder")
    p.add_argument("--out", required=True, help="the RAE run folder to write")


def _diffusion_parser(verbs) -> None:
    p = verbs.add_parser("train", help="train a flow-matching DiT on an RAE run's latents")
    _add_preset(p, "fmnist")
    p.add_argument("--rae", default=None, help="the RAE run (overrides the preset's rae)")
    p = verbs.add_parser("sample", help="sample a grid (one row per class when conditional)")
    p.add_argument("--run", required=True, help="a diffusion run folder")
    p.add_argument("--n", type=COUNT, default=64, help="images (rounded down to whole rows of classes)")
    _add_guidance(p)
    _add_fair(p)
    p.add_argument("--probe", default=None, help="the attribute probe --fair resample reads (replab fairness probe)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="grid PNG")
    p = verbs.add_parser("import-official", help="a released official DiT-DH/LightningDiT checkpoint → a replab run")
    p.add_argument("--ckpt", required=True, help="the released weights (stage2_model.pt; EMA used where present)")
    p.add_argument("--config", required=True, help="its official YAML (stage_2, transport, sampler, guidance, misc)")
    p.add_argument("--rae", required=True, help="the RAE run of its latents (from 'replab rae import-official')")
    p.add_argument("--autoguidance", default="", metavar="RUN", help="the imported guide model, for AG configs")
    p.add_argument("--out", required=True, help="the diffusion run folder to write")


def _eval_parser(verbs) -> None:
    p = verbs.add_parser("fd", help="Fréchet distance and precision/recall of a diffusion run's samples")
    p.add_argument("--run", required=True, help="a diffusion run folder")
    p.add_argument("--n", type=_number(int, 2), default=2000, help="samples")
    p.add_argument("--features", default="fd-fmnist", help="fd-fmnist (replab's classifier) or inception (FID)")
    _add_guidance(p)
    p.add_argument(
        "--out", default=None, help="the evaluation run (default: RUN/evals/fd; ./runs/<run>-fd for a shipped run)"
    )
    p = verbs.add_parser("train-features", help="train the FD-fmnist feature network")
    _add_preset(p, "fd-fmnist")


def _add_server_limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--request-timeout", type=SECONDS, default=None, help="seconds one request may take "
                        "(default: 120)")  # fmt: skip
    parser.add_argument("--stop-after", type=NATURAL, default=None, help="stop the run after this many requests "
                        "in a row get no answer (default: 8; 0: never); what finished is saved")  # fmt: skip


def _retry(args: argparse.Namespace):
    from replab.harness.backends import RetryPolicy

    given = {"timeout_s": args.request_timeout, "stop_after": args.stop_after}
    return RetryPolicy(**{k: v for k, v in given.items() if v is not None})


QUARANTINE_HELP = "move corrupt lines of results.jsonl to results.jsonl.bad and resume (their items are redone)"


BACKEND_HELP = "openai:<model> (with --base-url for any OpenAI-compatible server) or local:smollm2 (offline)"


def _diting_parser(verbs) -> None:
    p = verbs.add_parser("translate", help="the system under test translates each item")
    p.add_argument("--data", required=True, help="DITING JSONL or the official Label Studio export")
    p.add_argument("--backend", required=True, help=BACKEND_HELP)
    p.add_argument("--base-url", default=None, help="any OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--out", required=True, help="the run folder (rerun to resume by item id)")
    p.add_argument("--concurrency", type=COUNT, default=None, help="requests in flight at once (default: 8)")
    p.add_argument("--limit", type=COUNT, default=None, help="only the first N items (smoke runs)")
    p.add_argument("--max-tokens", type=COUNT, default=None, help="default: 256")
    p.add_argument("--quarantine", action="store_true", help=QUARANTINE_HELP)
    _add_server_limits(p)
    p = verbs.add_parser("score", help="BLEU, chrF++, COMET, single judge, AgentEval for every (item, system)")
    p.add_argument("--run", default=None, help="a 'diting translate' run folder")
    p.add_argument("--data", default=None, help="or: a data file whose items already hold candidates (with --out)")
    p.add_argument("--out", default=None, help="with --data: the run folder to score into")
    p.add_argument("--metrics", default=None, help="comma-separated: bleu, chrf, comet, single, agenteval (default: "
                   "bleu,chrf,agenteval)")  # fmt: skip
    p.add_argument("--judge-backend", default=None, help=f"for single and agenteval: {BACKEND_HELP}")
    p.add_argument("--base-url", default=None, help="the judge's OpenAI-compatible server")
    p.add_argument("--reference-aware", action="store_true", help="show the reference to the judges")
    p.add_argument("--concurrency", type=COUNT, default=None, help="requests in flight at once (default: 8)")
    p.add_argument("--limit", type=COUNT, default=None, help="only the first N (item, system) pairs")
    p.add_argument("--max-tokens", type=COUNT, default=None, help="default: 300")
    p.add_argument("--top-logprobs", type=NATURAL, default=None, help="token alternatives asked of the judge for the "
                   "probability-weighted score (0: none; default: 5)")  # fmt: skip
    p.add_argument("--quarantine", action="store_true", help=QUARANTINE_HELP)
    _add_server_limits(p)
    p = verbs.add_parser("meta", help="correlation of each metric with human scores, with bootstrap CIs")
    p.add_argument("--run", required=True, help="a 'diting translate' run folder holding scores")
    p.add_argument("--human", default=None, help="data file with human scores (default: the run's data)")


def _quantum_parser(verbs) -> None:
    _quantum_run_parser(verbs)
    _quantum_maintenance(verbs)


def _quantum_run_parser(verbs) -> None:
    p = verbs.add_parser("run", help="execution-verified quantum tasks: replab's (quantum) or Qiskit HumanEval")
    p.add_argument("--task", required=True, choices=["quantum", "qiskit-humaneval"], help="the task suite")
    p.add_argument("--tasks", default=None, help="quantum: a task file (default: the shipped one)")
    p.add_argument("--data", default=None, help="qiskit-humaneval: the benchmark's JSON file (normal or hard)")
    p.add_argument("--variant", default=None, choices=["normal", "hard"],
                   help="qiskit-humaneval: hard = the answer is a whole program, run without the prompt")  # fmt: skip
    p.add_argument("--backend", required=True, help=BACKEND_HELP)
    p.add_argument("--base-url", default=None, help="any OpenAI-compatible server")
    p.add_argument("--samples", type=COUNT, default=None, help="answers per instance (pass@k for k <= samples)")
    p.add_argument("--repair", type=NATURAL, default=None, help="rounds that feed the verifier's reason back")
    p.add_argument("--temperature", type=SCALE, default=None, help="default: 0, or 0.8 with --samples > 1")
    p.add_argument("--max-tokens", type=COUNT, default=None, help="default: 512 (quantum), 1024 (qiskit-humaneval)")
    p.add_argument("--panel", action="store_true", default=None, help="the agent panel judges each explanation")
    p.add_argument("--concurrency", type=COUNT, default=None, help="requests in flight at once (default: 4)")
    p.add_argument("--limit", type=COUNT, default=None, help="only the first N (instance, sample) items")
    _add_server_limits(p)
    p.add_argument("--out", required=True, help="the run folder (rerun to resume by item id)")


def _quantum_maintenance(verbs) -> None:
    p = verbs.add_parser("revalidate", help="rerun every reference and mutant of a task file on the installed qiskit")
    p.add_argument("--tasks", default="", help="a task file (default: the shipped one)")
    p = verbs.add_parser("humaneval", help="run the reference solutions of a Qiskit HumanEval file you supply")
    p.add_argument("--data", required=True, help="the Qiskit HumanEval JSON file (normal or hard)")
    p.add_argument("--variant", default="normal", choices=["normal", "hard"],
                   help="hard: the solution alone, without the prompt (the official -e)")  # fmt: skip
    p.add_argument("--timeout", type=SECONDS, default=30.0, help="seconds per task (the official harness: 30)")
    p.add_argument("--out", default=None, help="write the full JSON report here (per task: reason, detail)")
    p.add_argument("--compare", default=None, help="a results file of the official harness (test_solutions.py "
                   "-o): list the tasks where the two disagree")  # fmt: skip


def _judge_parser(verbs) -> None:
    """The spellings before the evaluation wing had one folder per system; they keep working for one release."""
    _diting_parser(verbs)
    _quantum_run_parser(verbs)
    _quantum_maintenance(verbs.add_parser("quantum", help="quantum task maintenance").add_subparsers(
        dest="quantum_verb", required=True))  # fmt: skip


def _embed_parser(verbs) -> None:
    p = verbs.add_parser("train", help="text-only contrastive LoRA")
    _add_preset(p, "smollm2-wordnet")
    p = verbs.add_parser("eval", help="held-out WordNet retrieval (nDCG@10, Recall@1/10, MRR), anisotropy, mutual kNN")
    p.add_argument("--model", required=True, help="a run of 'embed train', a model folder, 'smollm2' or 'minilm'")
    p.add_argument("--baseline", action="append", default=[], help="also evaluate this model (e.g. minilm)")
    p.add_argument("--tasks", default="gloss,example", help="gloss (definition→lemma), example (example→definition)")
    p.add_argument("--held-out", type=COUNT, default=1000)
    p.add_argument("--docs", type=COUNT, default=5000)
    p.add_argument("--out", default=None, help="JSON results (default: <run>/evals/wordnet.json for a run of yours)")
    p.add_argument("--pairs", default=None, help="multimodal model: JSONL of {image, text} pairs for text↔image "
                   "retrieval and the image–text mutual kNN per layer (instead of WordNet)")  # fmt: skip
    p.add_argument("--images", default=None, help="multimodal model: a folder of class sub-folders of images for "
                   "zero-shot classification (instead of WordNet)")  # fmt: skip
    p = verbs.add_parser("anisotropy", help="mean pairwise cosine per layer (random WordNet definitions, or media)")
    p.add_argument("--model", required=True)
    p.add_argument("--n", type=_number(int, 2), default=500)
    p.add_argument("--modality", choices=("text", "image", "audio", "video"), default="text")
    p.add_argument("--inputs", default=None, help="a folder of media files (needed for image, audio, video)")
    p = verbs.add_parser("mteb", help="score on mteb 2.x tasks (mteb.evaluate); results in a Run folder")
    p.add_argument("--model", required=True, help="a run of 'embed train', a model folder or 'smollm2'")
    p.add_argument("--tasks", nargs="*", default=[], metavar="NAME", help="mteb task names, e.g. STSBenchmark")
    p.add_argument("--benchmark", default=None, help="an mteb benchmark name, e.g. 'MTEB(eng, v2)' or 'MIEB(lite)'")
    p.add_argument("--out", required=True, help="the run folder (mteb's result files inside; rerun to resume)")
    p = verbs.add_parser("encode", help="embed texts or media files into a .npy array")
    p.add_argument("--model", required=True, help="a run of 'embed train', a model folder or 'smollm2'")
    p.add_argument("--inputs", required=True, help="a .txt (a text per line), a .jsonl (a text or {text, image, "
                   "audio, video} per line) or a folder of media files")  # fmt: skip
    p.add_argument("--out", required=True, help="the .npy file to write ([n, dim] float32, in input order)")
    p.add_argument("--batch-size", type=COUNT, default=16)
    p = verbs.add_parser("grsl", help="generation-representation scaling: perplexity vs retrieval after tuning")
    _add_preset(p, "grsl")
    p = verbs.add_parser("pretrain-vlm", help="build the small Fashion-MNIST VLM and caption-pretrain its projector")
    _add_preset(p, "fmnist-smollm2")
    p = verbs.add_parser("omni-claim", help="does text-only tuning improve image embeddings? (LCO-EMB Fig. 1, small)")
    _add_preset(p, "omni-claim")


def _footprint_parser(verbs) -> None:
    p = verbs.add_parser("report", help="table over runs + bar chart PNG")
    p.add_argument("runs", nargs="+", help="run folders or folders of runs")
    p.add_argument("--png", default=None, help="bar chart path (default: <first folder>/footprint.png)")
    p = verbs.add_parser("compare", help="energy per unit of work, side by side")
    p.add_argument("run_a")
    p.add_argument("run_b")


def _data_parser(verbs) -> None:
    p = verbs.add_parser("skew", help="a seeded, skewed Fashion-MNIST training subset with a known truth")
    p.add_argument("--preset", required=True, help="a skew preset: tone-10x, tone-mixed or group-10x")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="the benchmark folder (indices.json, benchmark.json)")
    p = verbs.add_parser("shards", help="copy an image folder into WebDataset tar shards (with shards.json)")
    p.add_argument("--src", required=True, help="an image folder (train/<class>/*.JPEG, or <class>/*)")
    p.add_argument("--out", required=True, help="the shard folder to write")
    p.add_argument("--per-shard", type=COUNT, default=1000, help="samples per tar shard")


def _fairness_parser(verbs) -> None:
    p = verbs.add_parser("probe", help="train an attribute probe on an RAE encoder's tokens (held-out confusion kept)")
    _add_preset(p, "tone")
    p.add_argument("--rae", default=None, help="the RAE run whose tokens the probe reads")
    p.add_argument("--data", default=None, metavar="DIR", help="your attribute: a labelled image folder, one "
                   "sub-folder per group (default: the preset's built-in attribute)")  # fmt: skip
    p = verbs.add_parser("audit", help="attribute distribution of a run's samples: auditor, probe, corrected, CIs")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="a diffusion run folder: sampled here, class-balanced")
    source.add_argument("--images", help="or any generator's samples: a folder of PNG/JPEG (class sub-folders 0…9 "
                        "give labels) or an .npz with images [and labels]")  # fmt: skip
    p.add_argument("--rae", default=None, help="--images: the RAE run the probe reads (default: the probe's own)")
    p.add_argument("--probe", required=True, help="a probe folder (replab fairness probe) for the run's RAE")
    p.add_argument("--n", type=COUNT, default=None, help="--run: samples, class-balanced (default: 1000)")
    p.add_argument("--interval", choices=["wilson", "exact"], default="wilson",
                   help="a share's 95 %% interval: Wilson, or exact Clopper-Pearson for small groups")  # fmt: skip
    _add_fair(p)
    _add_guidance(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out",
        default=None,
        help="the audit run folder (default: <run>/evals/fairness; ./runs/<run>-fairness for a shipped run)",
    )
    p.add_argument("--reference-run", default=None, metavar="RUN",
                   help="a generator of the same recipe trained on unskewed data, or a finished audit of one at "
                        "the same guidance: flags the classes whose share differs from its samples' (skew from the "
                        "data, not from the pipeline)")  # fmt: skip
    p = verbs.add_parser("tradeoff", help="fairness discrepancy vs FD-fmnist over CFG, guidance and resampling")
    p.add_argument("--run", required=True, help="a diffusion run folder")
    p.add_argument("--probe", required=True, help="the auditing probe")
    p.add_argument("--guide-probe", default=None, help="a noise-aware probe: adds the guidance-scale sweep")
    p.add_argument("--n", type=COUNT, default=1000, help="samples per point")
    p.add_argument("--target", default="", help="uniform | reference | a JSON list of shares")
    p.add_argument("--out", required=True, help="the trade-off folder (one audit run per point)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="the sweep (default: every correction): cfgs=1,3,5,7 guide_scales=2,4,8,16 "
                        "strengths=0.5,1 ratio=true seed=0")  # fmt: skip


def _add_fair(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default="", help="uniform | reference | a JSON list of shares (default: the "
                        "attribute's)")  # fmt: skip
    parser.add_argument("--fair", default="none", help="sampling-time correction: none, balanced, resample, "
                        "guidance, guidance-batch or ratio")  # fmt: skip
    parser.add_argument("--guide-probe", default=None, help="a noise-aware probe for --fair guidance / guidance-batch")
    parser.add_argument("--guide-scale", type=SCALE, default=8.0,
                        help="probe guidance scale (default 8, the validated one: benchmarks/RESULTS.md)")  # fmt: skip
    parser.add_argument("--guide-window", default="0,0.9", help="guide only for t in [a,b] (t = 1 is noise)")
    parser.add_argument("overrides", nargs="*", metavar="ratio.KEY=VALUE",
                        help="--fair ratio's settings (default: the validated ones): ratio.l2, ratio.cap_quantile, "
                        "ratio.class_quota, ratio.against (training|generated), ratio.training_n, ratio.power "
                        "(a number or auto), ratio.model (mixture|logistic), ratio.reference_n")  # fmt: skip


def _audit_config(args: argparse.Namespace):
    """The audit job's settings: its flags, then the ``ratio.KEY=VALUE`` overrides."""
    from replab.core.config import apply_overrides
    from replab.fairness.audit import AuditConfig

    wrong = [o for o in args.overrides if not o.startswith("ratio.")]
    if wrong:
        raise ConfigError(f"'{wrong[0]}': only ratio.KEY=VALUE settings are taken here")
    n = args.n if args.n is not None else AuditConfig.n
    job = AuditConfig(n=n, target=args.target, seed=args.seed, fair=args.fair,
                      guide_probe=args.guide_probe or "", guide_scale=args.guide_scale,
                      guide_window=_guide_window(args.guide_window),
                      reference_run=getattr(args, "reference_run", None) or "",
                      interval=getattr(args, "interval", "wilson"))  # fmt: skip
    job = apply_overrides(job, args.overrides)
    if job.ratio.power != "auto":
        job = dataclasses.replace(job, ratio=dataclasses.replace(job.ratio, power=float(job.ratio.power)))
    return job


def _guide_window(text: str) -> tuple[float, float]:
    from replab.diffusion.samplers import parse_interval

    return parse_interval(text, "--guide-window")


PARSERS = {
    "rae": (_rae_parser, "representation autoencoders (stage 1)"),
    "diffusion": (_diffusion_parser, "DiT / DiT-DH in RAE latent space (stage 2)"),
    "eval": (_eval_parser, "evaluation tools"),
    "diting": (_diting_parser, "DITING: translation evaluated by LLM judges (AgentEval, single judge, metrics)"),
    "quantum": (_quantum_parser, "quantum-computing evaluation of LLMs: execution-verified tasks, Qiskit HumanEval"),
    "embed": (_embed_parser, "LCO-EMB: generative LMs as embedding models"),
    "footprint": (_footprint_parser, "energy and carbon of runs"),
    "data": (_data_parser, "data preparation: skewed subsets for fairness audits, tar shards"),
    "fairness": (_fairness_parser, "fair diffusion: attribute probes and audits"),
}


def build_parser() -> argparse.ArgumentParser:
    from replab import __version__

    parser = Parser(prog="replab", description=__doc__)
    parser.add_argument("--version", action="version", version=f"replab {__version__}")
    systems = parser.add_subparsers(dest="system", required=True)
    demo = systems.add_parser("demo", help="the main job: the shipped RAE + DiT-DH, a fresh DiT-DH, a report")
    demo.add_argument("--out", default="runs/demo", help="the report's folder (default: runs/demo)")
    for name, (add_verbs, help_text) in PARSERS.items():
        add_verbs(systems.add_parser(name, help=help_text).add_subparsers(dest="verb", required=True))
    old = systems.add_parser("judge", help="the old spellings of 'replab diting …' and 'replab quantum …' (deprecated)")
    _judge_parser(old.add_subparsers(dest="verb", required=True))
    return parser


# ---- commands, one function per system -------------------------------------------------------------
def _config(cls, group: str, args: argparse.Namespace, extra: list[str] = ()):
    from replab.core.config import load_config

    return load_config(cls, group, args.preset, [*args.overrides, *extra])


def _rae(args: argparse.Namespace) -> None:
    if args.verb == "pretrain-encoder":
        from replab.rae.pretrain import EncoderPretrainConfig, pretrain_encoder

        print(f"encoder exported to {pretrain_encoder(_config(EncoderPretrainConfig, 'encoder', args), args.out)}")
    elif args.verb == "train":
        from replab.rae.train import RAEConfig, train_rae

        train_rae(_config(RAEConfig, "rae", args), args.out)
    elif args.verb == "import-official":
        from replab.rae.official import import_official, paths_from_official_yaml

        found = paths_from_official_yaml(args.config, args.root) if args.config else {}
        given = {"decoder_ckpt": args.decoder, "decoder_config": args.decoder_config, "stats": args.stats,
                 "encoder": args.encoder, "encoder_weights": args.encoder_weights}  # fmt: skip
        found.update({k: v for k, v in given.items() if v is not None})
        for key, flag in (("decoder_ckpt", "--decoder"), ("decoder_config", "--decoder-config"), ("stats", "--stats")):
            if key not in found:
                raise ConfigError(f"rae import-official: give {flag} (or --config with the official YAML)")
        import_official(out=args.out, **found)
    elif args.verb == "encode":
        from replab.rae.latent_cache import encode_to_cache, latents_dir

        out = args.out or latents_dir(args.rae) / f"{args.split}-cache"
        print(f"latents in {encode_to_cache(args.rae, out, args.split, args.shard_size, args.batch_size)}")
    else:
        from replab.rae.reconstruct import reconstruct

        reconstruct(args.run, args.out, n=args.n, grid=args.grid)


def _diffusion(args: argparse.Namespace) -> None:
    from replab.diffusion import sample

    if args.verb == "train":
        from replab.diffusion.train import DiffusionConfig, train_diffusion

        train_diffusion(_config(DiffusionConfig, "diffusion", args, [f"rae={args.rae}"] if args.rae else []), args.out)
    elif args.verb == "import-official":
        from replab.diffusion.official import import_official

        import_official(args.ckpt, args.config, args.rae, args.out, args.autoguidance)
    elif args.fair != "none":
        from replab.fairness.sample import fair_sample_grid

        check_file_out(args.out, "--out", IMAGE_SUFFIXES)
        guidance = _guidance(args, sample.run_guidance(args.run))
        path = fair_sample_grid(args.run, args.n, args.out, args.fair, args.target, args.probe, guidance, args.seed,
                                args.guide_probe, args.guide_scale, _guide_window(args.guide_window),
                                ratio=_audit_config(args).ratio)  # fmt: skip
        print(f"samples: {path} (what the correction cost: {Path(path).with_suffix('.json')})")
    else:
        check_file_out(args.out, "--out", IMAGE_SUFFIXES)
        guidance = _guidance(args, sample.run_guidance(args.run))
        print(f"samples: {sample.sample_grid(args.run, args.n, args.out, guidance=guidance, seed=args.seed)}")


def _eval(args: argparse.Namespace) -> None:
    if args.verb == "fd":
        from replab.diffusion.evaluate import evaluate_fd, format_results
        from replab.diffusion.sample import run_guidance

        guidance = _guidance(args, run_guidance(args.run))
        print(format_results(evaluate_fd(args.run, args.n, args.features, out=args.out, guidance=guidance)))
    else:
        from replab.core.feature_net import FeatureNetConfig, train_feature_net

        print(f"feature network exported to {train_feature_net(_config(FeatureNetConfig, 'features', args), args.out)}")


def _given(**values):
    """The flags given on the command line (argparse leaves the others None): the functions hold the defaults."""
    return {key: value for key, value in values.items() if value is not None}


def _diting(args: argparse.Namespace) -> None:
    from replab.diting import pipeline

    if args.verb == "translate":
        out = pipeline.translate(args.data, args.backend, args.out, **_given(
            base_url=args.base_url, concurrency=args.concurrency, limit=args.limit, max_tokens=args.max_tokens,
            quarantine=args.quarantine, retry=_retry(args)))  # fmt: skip
        print(f"translations: {out / 'results.jsonl'}")
    elif args.verb == "score":
        if bool(args.run) == bool(args.data) or (args.data and not args.out):
            raise ConfigError("diting score: give either --run RUN, or --data FILE with --out DIR")
        out = pipeline.score(**_given(
            run=args.run or args.out, data=args.data, metrics=args.metrics, judge_spec=args.judge_backend,
            base_url=args.base_url, concurrency=args.concurrency, limit=args.limit, max_tokens=args.max_tokens,
            with_reference=args.reference_aware, top_logprobs=args.top_logprobs, quarantine=args.quarantine,
            retry=_retry(args)))  # fmt: skip
        print(f"scores: {out / 'results.jsonl'}")
    else:
        table, png = pipeline.meta(args.run, args.human)
        print(f"{table}\nplot: {png}")


def _quantum(args: argparse.Namespace) -> None:
    if args.verb == "run":
        from replab.quantum.suites import run_suite

        given = _given(tasks=args.tasks, data=args.data, variant=args.variant, backend=args.backend,
                       base_url=args.base_url, samples=args.samples, repair=args.repair,
                       temperature=args.temperature, max_tokens=args.max_tokens, panel=args.panel,
                       concurrency=args.concurrency, limit=args.limit)  # fmt: skip
        print(run_suite(args.task, given, args.out, _retry(args)) + f"report: {args.out}/artifacts/report.md")
    elif args.verb == "revalidate":
        from replab.quantum.tasks import revalidate

        print(revalidate(args.tasks))
    else:
        from replab.quantum import humaneval as he

        print(he.check_references_job(args.data, args.variant, args.timeout, args.out, args.compare))


def _judge(args: argparse.Namespace) -> None:
    """``replab judge …``, the spellings before the evaluation systems had folders of their own."""
    if args.verb == "quantum":
        args.verb = args.quantum_verb
        new = f"replab quantum {args.verb}"
    else:
        new = f"replab {'quantum' if args.verb == 'run' else 'diting'} {args.verb}"
    print(f"replab: note: 'replab judge {'quantum ' * (new.endswith(('revalidate', 'humaneval')))}{args.verb}' is "
          f"now '{new}'; the old spelling goes in the next release", file=sys.stderr)  # fmt: skip
    (_quantum if new.startswith("replab quantum") else _diting)(args)


def _embed(args: argparse.Namespace) -> None:
    from replab.embed import evaluate

    if args.verb == "train":
        from replab.embed.train import EmbedConfig, train_embedder

        folder = train_embedder(_config(EmbedConfig, "embed", args), args.out)
        print(f"adapter: {folder / 'adapter'}\nmerged model (sentence-transformers folder): {folder / 'model'}")
    elif args.verb == "eval" and (args.pairs or args.images):
        from replab.embed import encode_cli

        print(encode_cli.crossmodal_eval([args.model, *args.baseline], args.pairs, args.images, args.out))
    elif args.verb == "eval":
        tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
        table, out = evaluate.evaluate_models([args.model, *args.baseline], tasks, args.held_out, args.docs, args.out)
        print(table + (f"\nresults: {out}" if out else ""))
    elif args.verb == "anisotropy":
        from replab.embed import encode_cli

        values = encode_cli.anisotropy(args.model, args.modality, args.inputs, args.n)
        print("\n".join(f"  layer {layer:2d}: {value:.3f}" for layer, value in enumerate(values)))
    elif args.verb == "pretrain-vlm":
        from replab.embed.pretrain_vlm import VLMPretrainConfig, pretrain_vlm

        folder = pretrain_vlm(_config(VLMPretrainConfig, "embed", args), args.out)
        print(f"caption accuracy: {folder / 'caption_accuracy.json'}\nmodel (loads in Embedder): {folder / 'model'}")
    elif args.verb == "omni-claim":
        from replab.embed.omni_claim import OmniClaimConfig, run_omni_claim

        print(run_omni_claim(_config(OmniClaimConfig, "embed", args), args.out))
    elif args.verb == "mteb":
        from replab.embed.mteb_run import run_mteb

        print(run_mteb(args.model, args.tasks, args.benchmark, args.out))
    elif args.verb == "encode":
        from replab.embed import encode_cli

        print(encode_cli.encode_to_file(args.model, args.inputs, args.out, args.batch_size))
    else:
        from replab.embed.grsl import GRSLConfig, run_grsl

        print(run_grsl(_config(GRSLConfig, "embed", args), args.out))


def _footprint(args: argparse.Namespace) -> None:
    from replab.footprint import report

    print(report.report(args.runs, args.png) if args.verb == "report" else report.compare(args.run_a, args.run_b))


def _data(args: argparse.Namespace) -> None:
    if args.verb == "shards":
        from replab.core.image_files import write_shards

        for folder in write_shards(args.src, args.out, args.per_shard):
            print(f"wrote {folder}")
        return
    from replab.fairness.benchmark import make_skew

    make_skew(args.preset, args.out, seed=args.seed)


def _fairness(args: argparse.Namespace) -> None:
    if args.verb == "probe":
        from replab.fairness.probe import ProbeConfig, train_probe

        given = [f"rae={args.rae}"] * bool(args.rae) + [f"data={args.data}"] * bool(args.data)
        train_probe(_config(ProbeConfig, "fairness", args, given), args.out)
    elif args.verb == "tradeoff":
        from replab.core.config import apply_overrides
        from replab.fairness.tradeoff import TradeoffConfig, tradeoff

        sweep = apply_overrides(TradeoffConfig(n=args.n, target=args.target), args.overrides)
        result = tradeoff(args.run, args.probe, args.out, sweep, guide_probe=args.guide_probe)
        for point in result["points"]:
            print({k: v for k, v in point.items() if k != "ci"})
    elif args.images:
        from replab.fairness.audit_images import audit_images
        from replab.fairness.report import format_report

        if args.fair != "none" or args.reference_run:
            raise ConfigError("--images: corrections (--fair) and --reference-run need the generator; use --run")
        if args.n is not None:
            raise ConfigError("--images audits every image it is given; --n (samples to draw) goes with --run")
        report = audit_images(args.images, args.probe, args.rae, args.target, args.out, seed=args.seed,
                              interval=args.interval)  # fmt: skip
        print(format_report(report))
    else:
        from replab.diffusion.sample import run_guidance
        from replab.fairness.audit import audit
        from replab.fairness.report import format_report

        guidance = _guidance(args, run_guidance(args.run))
        report = audit(args.run, args.probe, _audit_config(args), guidance, args.out)
        print(format_report(report))


def _demo(args: argparse.Namespace) -> None:
    from replab.demo_dit_dh import main as demo

    demo(["--out", args.out])


COMMANDS = {"demo": _demo, "rae": _rae, "diffusion": _diffusion, "eval": _eval, "diting": _diting,
            "quantum": _quantum, "judge": _judge, "embed": _embed, "footprint": _footprint, "data": _data,
            "fairness": _fairness}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.system](args)
        return 0
    except ReplabError as exc:
        print(f"replab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("replab: interrupted; rerun the same command to resume from the last checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
