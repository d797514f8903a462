"""``replab embed train``: text-only contrastive LoRA on a generative LM (LCO-EMB), nanoGPT-short.

Saves three things into the run folder: ``adapter/`` (PEFT), ``model/`` (LoRA merged; also a
sentence-transformers folder) and checkpoints of the LoRA weights + optimizer for resume.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import torch

from replab.core import dist
from replab.core.config import to_dict
from replab.core.data import BatchOrder
from replab.core.layers import use_cpu_linears
from replab.core.loop import TrainLoop
from replab.core.run import Run, check_out
from replab.core.train import RESUMABLE_KEYS, TrainConfig, adamw, start_training
from replab.embed.data import Triplet, load_triplets_jsonl, load_wordnet, split_wordnet, wordnet_triplets
from replab.embed.lora_forward import fuse_lora_linears
from replab.embed.loss import contrastive_backward
from replab.embed.model import Embedder
from replab.embed.prompts import PromptConfig
from replab.errors import ConfigError


@dataclass
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str = "all-linear"  # every linear layer of the language model


@dataclass
class EmbedTrainConfig(TrainConfig):
    lr: float = 4e-4
    batch_size: int = 32  # triplets per step, over all processes
    temperature: float = 0.03
    hard_negatives: bool = True
    same_side_negatives: bool = False  # GTE's improved loss: also repel anchors from anchors, docs from docs
    chunk_size: int = 0  # >0: cached (GradCache) loss with chunks of this many texts
    gradient_checkpointing: bool = False
    bf16: bool = False


@dataclass
class EmbedDataConfig:
    source: str = "wordnet"  # "wordnet" or a JSONL of {"anchor", "positive"[, "negative"]}
    held_out: int = 1000  # WordNet synsets never trained on (the evaluation queries)
    docs: int = 5000  # evaluation corpus: held-out lemma strings + distractors
    seed: int = 0
    exclude_words: list[str] = field(default_factory=list)  # drop every triplet whose text names one of these
    shuffle_pairs: bool = False  # control: positives (and negatives) re-paired at random with the anchors


@dataclass
class EmbedConfig:
    base: str = "smollm2"  # hub id / folder of a causal LM or VLM; "smollm2" = the offline default
    pooling: str = "last"
    max_length: int | None = 80  # cap on a whole row, template included (None: none, as the official code)
    max_text_tokens: int = 300  # each text cut to this many tokens first (the official MTEB path)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    data: EmbedDataConfig = field(default_factory=EmbedDataConfig)
    train: EmbedTrainConfig = field(default_factory=EmbedTrainConfig)


class TrainableWeights(torch.nn.Module):
    """The trainable parameters of a model as one checkpointable module (LoRA only: megabytes, not the LM)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self._params = {n: p for n, p in model.named_parameters() if p.requires_grad}

    def state_dict(self, *args, **kwargs) -> dict[str, torch.Tensor]:  # type: ignore[override]
        return {n: p.detach() for n, p in self._params.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor], strict: bool = True, assign: bool = False):  # type: ignore[override]
        with torch.no_grad():
            for n, p in self._params.items():
                p.copy_(state[n])


def load_training_triplets(config: EmbedDataConfig) -> list[Triplet]:
    if config.source == "wordnet":
        splits = split_wordnet(load_wordnet(), config.held_out, config.docs, config.seed)
        triplets = wordnet_triplets(splits.train, config.seed)
    else:
        triplets = load_triplets_jsonl(config.source)
    if config.exclude_words:
        triplets = [t for t in triplets if not names_any(t, config.exclude_words)]
    if config.shuffle_pairs:
        triplets = shuffled_pairs(triplets, config.seed)
    if not triplets:
        raise ConfigError("data: no training triplets left after data.exclude_words")
    return triplets


def names_any(triplet: Triplet, words: list[str]) -> bool:
    """Whether any side's text names one of ``words`` (whole words, case-insensitive, plurals in -s/-es too)."""
    import re

    pattern = re.compile(r"(?<![\w-])(" + "|".join(re.escape(w.lower()) for w in words) + r")(?:e?s)?(?![\w-])")
    sides = (triplet.anchor, triplet.positive, triplet.negative)
    texts = [s if isinstance(s, str) else s.get("text", "") for s in sides if s is not None]
    return any(pattern.search(text.lower()) for text in texts)


def shuffled_pairs(triplets: list[Triplet], seed: int) -> list[Triplet]:
    """The same texts with the anchor–positive pairing destroyed: the control for the effect of any LoRA update
    that is not contrastive structure."""
    rng = random.Random(seed + 7919)
    positives = [t.positive for t in triplets]
    negatives = [t.negative for t in triplets]
    rng.shuffle(positives)
    rng.shuffle(negatives)
    return [Triplet(t.anchor, p, n) for t, p, n in zip(triplets, positives, negatives)]


def add_lora(embedder: Embedder, settings: LoraSettings, gradient_checkpointing: bool = False) -> None:
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                      target_modules=settings.target_modules)  # fmt: skip
    if gradient_checkpointing:
        embedder.share_prefix = False  # transformers' checkpointed layers refuse a key/value cache
        model, options = embedder.model, {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x name
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=options)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=options)
        embedder.model.enable_input_require_grads()
    if embedder.full is not None:  # a multimodal base: its vision and audio towers stay frozen, LoRA is on the LM
        embedder.full.requires_grad_(False)
    use_cpu_linears(embedder.model)  # frozen base GEMMs of training through oneDNN where it is faster (core.layers)
    embedder.model = get_peft_model(embedder.model, lora)
    fuse_lora_linears(embedder.model)


def average_gradients(params: list[torch.nn.Parameter]) -> None:
    """Data-parallel gradient averaging (done by hand: the cached loss runs several backward passes)."""
    if dist.world_size() > 1:
        for p in params:
            if p.grad is not None:
                torch.distributed.all_reduce(p.grad)
                p.grad /= dist.world_size()


def train_embedder(config: EmbedConfig, out: str | Path, triplets: list[Triplet] | None = None) -> Path:
    tc = config.train
    world = dist.world_size() if dist.init_from_env() else 1
    if tc.batch_size % world:
        raise ConfigError(f"train.batch_size={tc.batch_size} must divide by the {world} processes")
    check_out(out, "embed", to_dict(config), RESUMABLE_KEYS, to_dict(EmbedConfig()))  # before the slow model load
    start_training(tc)
    random.seed(tc.seed)
    triplets = triplets if triplets is not None else load_training_triplets(config.data)
    embedder = Embedder.from_pretrained(
        config.base,
        pooling=config.pooling,
        prompt=config.prompt,
        max_length=config.max_length,
        max_text_tokens=config.max_text_tokens,
    )
    add_lora(embedder, config.lora, tc.gradient_checkpointing)
    embedder.model.train()
    params = [p for p in embedder.model.parameters() if p.requires_grad]
    optimizer = adamw(params, tc)
    share = tc.batch_size // world
    order = BatchOrder(len(triplets), tc.batch_size, tc.seed)
    with Run(out, to_dict(config), kind="embed", mutable=RESUMABLE_KEYS, defaults=to_dict(EmbedConfig())) as run:
        loop = TrainLoop(run, tc, {"lora": TrainableWeights(embedder.model)}, {"lora": optimizer},
                         units={"triplets": tc.batch_size}, desc="embed train",
                         position=lambda done: {"triplets_seen": done * tc.batch_size})  # fmt: skip
        for step in loop:
            optimizer.zero_grad(set_to_none=True)
            index = order.indices(step)[dist.rank() * share : (dist.rank() + 1) * share]
            batch = [triplets[i] for i in index]
            use_neg = tc.hard_negatives and all(t.negative for t in batch)
            loss = contrastive_backward(
                embedder.embed_rows,
                embedder.rows([t.anchor for t in batch], "query", warn=False),
                embedder.rows([t.positive for t in batch], "document", warn=False),
                embedder.rows([t.negative for t in batch], "document", warn=False) if use_neg else None,
                tc.temperature,
                tc.chunk_size,
                tc.same_side_negatives,
            )
            average_gradients(params)
            grad_norm = torch.nn.utils.clip_grad_norm_(params, tc.grad_clip or float("inf"))
            optimizer.step()
            texts = {"triplets": tc.batch_size, "texts": tc.batch_size * (3 if use_neg else 2)}
            loop.end_step(step, units=texts, loss=loss, grad_norm=grad_norm)
        if dist.is_main():
            with run.phase("save"):
                save_embedder(embedder, run.folder)
    dist.barrier()
    return run.folder


def save_embedder(embedder: Embedder, folder: Path) -> None:
    """``adapter/`` (PEFT) and ``model/`` (merged; loads in replab and in sentence-transformers)."""
    model = embedder.model
    model.save_pretrained(folder / "adapter")
    merged = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
    embedder.model = merged
    embedder.save(folder / "model")
