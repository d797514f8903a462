"""replab's Embedder against the official LCO-Embedding text recipe written out with plain transformers, on
the same model, texts, threads and batch size.

The official path (LCO-Embedding's MTEB wrapper): each text tokenised and cut to 300 tokens, decoded, put in
one user message "{text}\\nSummarize the above text in one word:", the chat template applied with its
generation prompt (no system message of its own), the whole string tokenised, left padding, last token of
the last hidden state, L2-normalised. Reported: how many texts get identical token ids, the minimum cosine
between the two embeddings, and encode time (replab / plain loop; medians, alternating repetitions).

    python benchmarks/embed_official_recipe.py [--model smollm2] [--texts 256] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

import numpy as np
import torch

TRICKY = ["  leading spaces", "trailing spaces   ", "new\nlines\n\n", "\n", "中文文本，带标点。", "emoji 🙂🚀 mixed",
          "", "   ", "  \n indented\tline", "a dog"]  # fmt: skip
PROMPT = "{}\nSummarize the above text in one word:"


def official(model, tokenizer, texts: list[str], batch_size: int, max_text_tokens: int = 300):
    ids_all, out = [], []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            batch = [tokenizer.decode(x[:max_text_tokens]) for x in tokenizer(texts[i : i + batch_size]).input_ids]
            messages = [[{"role": "user", "content": PROMPT.format(t)}] for t in batch]
            rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            ids_all += [tokenizer(r).input_ids for r in rendered]
            inputs = tokenizer(rendered, padding=True, return_tensors="pt")
            last = model(**inputs).last_hidden_state[:, -1]
            out.append(torch.nn.functional.normalize(last.float(), dim=-1))
    return ids_all, torch.cat(out).numpy()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--texts", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from transformers import AutoModel, AutoTokenizer

    from replab.embed.data import load_wordnet
    from replab.embed.model import Embedder, resolve_base

    texts = TRICKY + [s.definition for s in random.Random(0).sample(load_wordnet(), args.texts - len(TRICKY))]
    ours = Embedder.from_pretrained(args.model, bf16=False)
    folder = resolve_base(args.model)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.padding_side = "left"
    model = AutoModel.from_pretrained(folder, dtype=torch.float32).eval()
    print(f"threads: {torch.get_num_threads()}; model: {args.model}; {len(texts)} texts, batch {args.batch_size}")

    ids, theirs = official(model, tokenizer, texts, args.batch_size)
    same_ids = sum(a == b for a, b in zip(ours.tokenize(texts, warn=False), ids))
    mine = ours.encode(texts, batch_size=args.batch_size)
    cosine = (mine * theirs).sum(-1)
    tricky = cosine[: len(TRICKY)]
    times = {"replab": [], "official loop": []}
    for _ in range(args.repeats):  # alternate so that machine noise hits both alike
        start = time.perf_counter()
        ours.encode(texts, batch_size=args.batch_size)
        times["replab"].append(time.perf_counter() - start)
        start = time.perf_counter()
        official(model, tokenizer, texts, args.batch_size)
        times["official loop"].append(time.perf_counter() - start)
    median = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "texts": len(texts), "identical_ids": same_ids, "min_cosine": float(cosine.min()),
        "min_cosine_tricky": float(tricky.min()), "mean_cosine": float(cosine.mean()),
        "seconds": median, "ratio_replab_over_official": median["replab"] / median["official loop"],
        "threads": torch.get_num_threads(),
    }  # fmt: skip
    print(json.dumps(result, indent=1))
    print(f"replab / official loop: {result['ratio_replab_over_official']:.2f}x the time "
          f"({len(texts) / median['replab']:.1f} vs {len(texts) / median['official loop']:.1f} texts/s)")  # fmt: skip
    assert np.isfinite(cosine).all()
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
