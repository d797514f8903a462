"""replab's Embedder versus sentence-transformers on the same model, same pooling, same process and threads.

1. ``encode`` throughput (texts/s) on WordNet definitions; the two outputs are checked to agree.
2. One contrastive LoRA step (forward + backward, batch of triplets, in-batch + hard negatives): replab's
   InfoNCE versus sentence-transformers' MultipleNegativesRankingLoss (scale = 1/τ), with the same peft
   adapter (identical weights copied across), so the two losses must also agree.

    python benchmarks/embed_vs_sentence_transformers.py [--model smollm2] [--texts 512] [--steps 3]

Repetitions alternate between the two sides so machine noise hits both alike; ratios are replab / peer.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def cpu_model() -> str:
    names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")]
    return names[0] if names else "unknown"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--triplets", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from peft import LoraConfig, inject_adapter_in_model
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from replab.core.train import bf16_supported
    from replab.embed.data import load_wordnet, split_wordnet, wordnet_triplets
    from replab.embed.loss import contrastive_backward
    from replab.embed.model import Embedder
    from replab.embed.train import LoraSettings, add_lora

    torch.manual_seed(0)
    synsets = load_wordnet()
    texts = [s.definition for s in random.Random(0).sample(synsets, args.texts)]
    ours = Embedder.from_pretrained(args.model)
    folder = Path(tempfile.mkdtemp()) / "st"
    ours.save(folder)
    theirs = SentenceTransformer(str(folder), device="cpu")
    print(f"threads: {torch.get_num_threads()}; model: {args.model}; {args.texts} texts, batch {args.batch_size}")

    # ---- 1. encode ---------------------------------------------------------------------------------
    ours.encode(texts[:64], batch_size=args.batch_size)
    theirs.encode(texts[:64], batch_size=args.batch_size)
    # replab's default autocasts to bf16 where the CPU has bf16 units; sentence-transformers' default is fp32,
    # so both are also timed in fp32, and sentence-transformers under the same bf16 autocast
    bf16 = bf16_supported(torch.device("cpu"))
    fp32 = Embedder.from_pretrained(args.model, bf16=False) if bf16 else ours

    def st_bf16() -> np.ndarray:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return theirs.encode(texts, batch_size=args.batch_size, normalize_embeddings=True)

    sides = {"replab": lambda: ours.encode(texts, batch_size=args.batch_size, show_progress_bar=False),
             "sentence-transformers": lambda: theirs.encode(texts, batch_size=args.batch_size,
                                                            normalize_embeddings=True)}  # fmt: skip
    if bf16:
        sides["replab fp32"] = lambda: fp32.encode(texts, batch_size=args.batch_size, show_progress_bar=False)
        sides["sentence-transformers bf16 autocast"] = st_bf16
    times: dict[str, list[float]] = {name: [] for name in sides}
    outputs: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        for name, encode_all in sides.items():
            tick = time.perf_counter()
            outputs[name] = encode_all()
            times[name].append(time.perf_counter() - tick)
    encode = {k: args.texts / min(v) for k, v in times.items()}
    encode_ratio = encode["replab"] / encode["sentence-transformers"]
    a, b = outputs["replab fp32" if bf16 else "replab"], outputs["sentence-transformers"]
    diff = float(np.abs(a - b).max())
    print("encode (texts/s): " + ", ".join(f"{k} {v:.1f}" for k, v in encode.items()))
    print(f"  defaults: {encode_ratio:.2f}x; fp32 outputs agree to {diff:.1e}")
    if bf16:
        print(f"  fp32 both: {encode['replab fp32'] / encode['sentence-transformers']:.2f}x; bf16 autocast both: "
              f"{encode['replab'] / encode['sentence-transformers bf16 autocast']:.2f}x")  # fmt: skip

    # ---- 2. one contrastive LoRA step --------------------------------------------------------------
    lora = LoraSettings(r=16, alpha=32, dropout=0.0)
    add_lora(ours, lora)
    ours.model.train()
    with torch.no_grad():
        for name, p in ours.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.01)
    # the same peft LoRA injected into sentence-transformers' transformer (its add_adapter needs peft >= 0.22,
    # which PyPI does not offer here); base weights frozen as peft's get_peft_model does on our side
    transformer = theirs[0].auto_model if hasattr(theirs[0], "auto_model") else theirs[0].model
    config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=0.0, target_modules="all-linear")
    inject_adapter_in_model(config, transformer)
    for name, p in transformer.named_parameters():
        p.requires_grad_("lora_" in name)
    mine = {n.removeprefix("base_model.model."): p for n, p in ours.model.named_parameters() if "lora" in n}
    copied = 0
    with torch.no_grad():
        for name, p in transformer.named_parameters():
            if "lora" in name:
                p.copy_(mine[name])
                copied += 1
    assert copied == len(mine), f"copied {copied} of {len(mine)} LoRA tensors"
    theirs.train()
    splits = split_wordnet(synsets, 100, 200)
    triplets = wordnet_triplets(splits.train)[: args.triplets]
    columns = [[t.anchor for t in triplets], [t.positive for t in triplets], [t.negative for t in triplets]]
    loss_fn = MultipleNegativesRankingLoss(theirs, scale=1 / 0.03)

    def our_step() -> float:
        ours.model.zero_grad(set_to_none=True)
        rows = [ours.tokenize(c) for c in columns]
        return contrastive_backward(ours.embed_ids, *rows, temperature=0.03)

    def their_step() -> float:
        transformer.zero_grad(set_to_none=True)
        features = [theirs.tokenize(c) for c in columns]
        loss = loss_fn(features, labels=None)
        loss.backward()
        return loss.item()

    our_loss, their_loss = our_step(), their_step()
    step_times: dict[str, list[float]] = {"replab": [], "sentence-transformers": []}
    for _ in range(args.steps):
        tick = time.perf_counter()
        our_step()
        step_times["replab"].append(time.perf_counter() - tick)
        tick = time.perf_counter()
        their_step()
        step_times["sentence-transformers"].append(time.perf_counter() - tick)
    step = {k: float(np.median(v)) for k, v in step_times.items()}
    step_ratio = step["replab"] / step["sentence-transformers"]
    print(f"LoRA step ({args.triplets} triplets): replab {step['replab']:.2f} s, sentence-transformers "
          f"{step['sentence-transformers']:.2f} s -> {step_ratio:.2f}x the peer's time; "
          f"losses {our_loss:.4f} vs {their_loss:.4f}")  # fmt: skip
    result = {"cpu": cpu_model(), "bf16_units": bf16, "encode_texts_per_s": encode, "encode_speedup": encode_ratio,
              "encode_max_abs_diff": diff, "step_seconds": step, "step_time_ratio": step_ratio,
              "losses": [our_loss, their_loss], "threads": torch.get_num_threads(), "model": args.model}  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
