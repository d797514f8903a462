"""Small causal LMs built and trained here, with no hub: a byte-level BPE tokenizer trained on local text,
a small Llama, the token stream and random windows it learns from, and one next-token training step.
GRSL pre-trains such models to get bases of graded generative quality; the tests build them too."""

from __future__ import annotations

from collections.abc import Iterator

import torch


def train_tokenizer(texts: list[str], vocab: int, unk: str = "<unk>", bos: str = "<s>", eos: str = "</s>"):
    """A byte-level BPE tokenizer (transformers' fast tokenizer); padding uses ``eos``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=[unk, bos, eos],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token=unk, bos_token=bos, eos_token=eos, pad_token=eos)


def tiny_llama(tokenizer, width: int, depth: int, heads: int, kv_heads: int | None = None,
               intermediate: int | None = None, max_positions: int = 512, tie_embeddings: bool = True):  # fmt: skip
    """A randomly initialised ``LlamaForCausalLM`` sized to ``tokenizer``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=width, intermediate_size=intermediate or 4 * width,
                         num_hidden_layers=depth, num_attention_heads=heads, num_key_value_heads=kv_heads or heads,
                         max_position_embeddings=max_positions, tie_word_embeddings=tie_embeddings,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    return LlamaForCausalLM(config)


def token_stream(tokenizer, texts: list[str]) -> torch.Tensor:
    """All texts as one id stream, each line closed by ``eos``."""
    eos = tokenizer.eos_token_id
    lines = tokenizer(list(texts), add_special_tokens=False)["input_ids"]  # one batched call: no per-line Python
    return torch.tensor([token for line in lines for token in (*line, eos)])


def lm_batches(stream: torch.Tensor, seq_len: int, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """Endless seeded batches of random windows ``[batch_size, seq_len]`` of the stream."""
    gen = torch.Generator().manual_seed(seed)
    while True:
        starts = torch.randint(0, len(stream) - seq_len - 1, (batch_size,), generator=gen)
        yield torch.stack([stream[s : s + seq_len] for s in starts])


def next_token_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, ids: torch.Tensor) -> float:
    """One optimizer step of next-token loss on ``ids [B, T]`` (gradients clipped to norm 1)."""
    loss = model(input_ids=ids, labels=ids).loss
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss.item()
