"""Tiny randomly initialised causal LMs with a locally trained tokenizer (no hub, no downloads)."""

from __future__ import annotations

from pathlib import Path

import torch

from replab.core.config import apply_overrides
from replab.embed.data import Triplet
from replab.embed.tiny_lm import tiny_llama, train_tokenizer
from replab.embed.train import EmbedConfig, train_embedder

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "a dog is a domestic animal", "the cat sat on the mat", "summarize the above text in one word",
    "you are an embedding model", "a large feline of the genus panthera", "the quick brown fox jumps",
    "query document system user assistant", "an act that has disastrous consequences",
]  # fmt: skip


def tiny_tokenizer(chat_template: bool = True):
    fast = train_tokenizer(CORPUS * 4, vocab=300, bos="<|im_start|>", eos="<|im_end|>")
    if chat_template:
        fast.chat_template = CHATML
    return fast


def make_tiny_lm(folder: Path, chat_template: bool = True, layers: int = 2, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer(chat_template)
    model = tiny_llama(tokenizer, width=32, depth=layers, heads=4, kv_heads=2, intermediate=64, max_positions=256,
                       tie_embeddings=False)  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


TRIPLETS = [
    Triplet("a dog is", "domestic animal", "the cat"),
    Triplet("fox jumps", "quick brown", "mat"),
    Triplet("the cat sat", "on the mat", "a dog"),
    Triplet("large feline", "genus panthera", "an act"),
] * 4


def tiny_config(lm: Path, *overrides: str) -> EmbedConfig:
    base = [f"base={lm}", "max_length=128", "train.steps=3", "train.batch_size=4", "train.warmup_steps=1",
            "train.log_every=1", "train.ckpt_every=1", "lora.r=4", "lora.alpha=8", "lora.dropout=0.0"]  # fmt: skip
    return apply_overrides(EmbedConfig(), base + list(overrides))


def train_tiny(lm: str, out: str, *overrides: str) -> None:
    train_embedder(tiny_config(Path(lm), *overrides), out, TRIPLETS)
