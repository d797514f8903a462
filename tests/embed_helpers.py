"""Tiny randomly initialised causal LMs with a locally trained tokenizer (no hub, no downloads)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from replab.core.config import apply_overrides
from replab.embed.data import Triplet
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
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<unk>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    tok.train_from_iterator(CORPUS * 4, trainer)
    from tokenizers import decoders

    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<|im_end|>",
                                   bos_token="<|im_start|>", pad_token="<|im_end|>")  # fmt: skip
    if chat_template:
        fast.chat_template = CHATML
    return fast


def make_tiny_lm(folder: Path, chat_template: bool = True, layers: int = 2, seed: int = 0) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer(chat_template)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    model = LlamaForCausalLM(config)
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


def ddp_worker(rank: int, world: int, lm: str, out: str, port: int, *overrides: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    os.environ["REPLAB_NO_PROGRESS"] = "1"
    torch.set_num_threads(1)
    train_embedder(tiny_config(Path(lm), *overrides), out, TRIPLETS)
    torch.distributed.destroy_process_group()
