import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from replab.embed.data import load_triplets_jsonl
from replab.embed.loss import contrastive_backward, info_nce
from replab.embed.model import ALL_LAYERS, Embedder
from replab.embed.train import add_lora, train_embedder
from replab.errors import DataError
from tests.conftest import spawn_ddp
from tests.embed_helpers import TRIPLETS, make_tiny_lm, tiny_config, train_tiny

TEXTS = ["a dog", "the cat sat on the mat", "fox", "a large feline of the genus panthera jumps"]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> Path:
    return make_tiny_lm(tmp_path_factory.mktemp("lm") / "lm")


def test_last_token_pooling_under_left_padding(tiny_lm):
    embedder = Embedder.from_pretrained(str(tiny_lm), bf16=False)
    rows = embedder.tokenize(TEXTS)
    assert len({len(r) for r in rows}) > 1  # the batch really is padded
    embedder.share_prefix = False
    batched = embedder.embed_ids(rows, group_size=len(rows))
    for i, row in enumerate(rows):  # unpadded, one at a time, straight through the model
        hidden = embedder.model(input_ids=torch.tensor([row])).last_hidden_state
        assert torch.allclose(batched[i], hidden[0, -1], atol=1e-5)


def test_shared_prefix_cache_and_grouping_are_exact(tiny_lm):
    embedder = Embedder.from_pretrained(str(tiny_lm), bf16=False)
    shared = embedder.encode(TEXTS, batch_size=3)
    embedder.share_prefix = False
    plain = embedder.encode(TEXTS, batch_size=4)
    assert np.abs(shared - plain).max() < 1e-5
    norms = np.linalg.norm(plain, axis=1)
    assert np.allclose(norms, 1, atol=1e-5)
    assert torch.allclose(Embedder.similarity(plain, plain).diagonal(), torch.ones(len(TEXTS)), atol=1e-5)


def test_mean_pooling_counts_real_tokens_only(tiny_lm):
    embedder = Embedder.from_pretrained(str(tiny_lm), pooling="mean", bf16=False)
    rows = embedder.tokenize(TEXTS)
    batched = embedder.embed_ids(rows)
    for i, row in enumerate(rows):
        hidden = embedder.model(input_ids=torch.tensor([row])).last_hidden_state
        assert torch.allclose(batched[i], hidden[0].mean(0), atol=1e-5)


def _packed_and_padded(embedder: Embedder, fn):
    """``fn()`` with rows packed end to end, then with the padded groups it replaces."""
    assert embedder.packed
    packed = fn()
    embedder.packed = False
    padded = fn()
    embedder.packed = True
    return packed, padded


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_packed_rows_equal_padded_groups(tiny_lm, pooling):
    embedder = Embedder.from_pretrained(str(tiny_lm), pooling=pooling, bf16=False)
    rows = [r for f in ("anchor", "positive", "negative") for r in embedder.tokenize([getattr(t, f) for t in TRIPLETS])]
    assert len(rows) > 32 and len({len(r) for r in rows}) > 3  # several attention chunks of unequal rows
    for layer in (None, 1, ALL_LAYERS):
        packed, padded = _packed_and_padded(embedder, lambda layer=layer: embedder.embed_ids(rows, layer=layer))
        assert packed.shape == padded.shape
        assert torch.allclose(packed, padded, atol=1e-5), layer


def test_packed_lora_gradients_equal_padded(tiny_lm):
    embedder = _lora_embedder(tiny_lm, dropout=0.0)
    rows = _triplet_rows(embedder)

    def grads() -> dict:
        embedder.model.zero_grad(set_to_none=True)
        contrastive_backward(embedder.embed_ids, *rows, temperature=0.05)
        return _grads(embedder.model)

    packed, padded = _packed_and_padded(embedder, grads)
    assert packed.keys() == padded.keys() and packed
    for key in packed:
        assert torch.allclose(packed[key], padded[key], atol=1e-5), key


def test_a_model_bypassing_the_attention_interface_falls_back_to_padding(tiny_lm, caplog):
    embedder = Embedder.from_pretrained(str(tiny_lm), bf16=False)
    rows = embedder.tokenize(TEXTS)
    embedder.packed = False
    expected = embedder.embed_ids(rows)
    embedder.packed = True
    embedder.model.config._attn_implementation = "eager"  # fake: its attention no longer sees the packed layout
    with caplog.at_level(logging.WARNING):
        got = embedder.embed_ids(rows)
    assert not embedder.packed and "rows run padded" in caplog.text
    assert torch.allclose(got, expected, atol=1e-5)


def test_info_nce_equals_hand_computation():
    gen = torch.Generator().manual_seed(0)
    a, p, n = (torch.randn(3, 5, generator=gen) for _ in range(3))
    tau = 0.05
    unit = lambda v: v / np.linalg.norm(v)  # noqa: E731
    docs = [unit(v) for v in torch.cat([p, n]).numpy()]
    expected = 0.0
    for i in range(3):
        logits = [float(unit(a[i].numpy()) @ d) / tau for d in docs]
        expected += -(logits[i] - math.log(sum(math.exp(x) for x in logits)))
    assert info_nce(a, p, n, tau).item() == pytest.approx(expected / 3, rel=1e-5)


def test_same_side_negatives_equal_hand_computation():
    """GTE's improved loss: the partition of pair i adds anchor i vs other anchors, positive i vs other
    positives, and positive i vs other anchors."""
    gen = torch.Generator().manual_seed(1)
    a, p, n = (torch.randn(3, 5, generator=gen) for _ in range(3))
    tau = 0.05
    unit = lambda v: v / np.linalg.norm(v)  # noqa: E731
    A, P, N = ([unit(v) for v in x.numpy()] for x in (a, p, n))
    expected = 0.0
    for i in range(3):
        positive = float(A[i] @ P[i]) / tau
        others = [float(A[i] @ d) / tau for d in P + N]
        others += [
            float(x @ y) / tau for j in range(3) if j != i for x, y in ((A[i], A[j]), (P[i], P[j]), (P[i], A[j]))
        ]
        expected += -(positive - math.log(sum(math.exp(x) for x in others)))
    assert info_nce(a, p, n, tau, same_side=True).item() == pytest.approx(expected / 3, rel=1e-5)


def _grads(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _lora_embedder(lm: Path, dropout: float) -> Embedder:
    from replab.embed.train import LoraSettings

    torch.manual_seed(0)
    embedder = Embedder.from_pretrained(str(lm), bf16=False)
    add_lora(embedder, LoraSettings(r=4, alpha=8, dropout=dropout))
    with torch.no_grad():  # LoRA B starts at zero; make the adapter active so every gradient is exercised
        for name, p in embedder.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    return embedder.model.train() and embedder


def _triplet_rows(embedder: Embedder) -> list[list[list[int]]]:
    return [embedder.tokenize([getattr(t, f) for t in TRIPLETS[:8]]) for f in ("anchor", "positive", "negative")]


@pytest.mark.parametrize("same_side", [False, True])
def test_cached_loss_equals_plain_loss(tiny_lm, same_side):
    results = []
    for chunk in (0, 3):
        embedder = _lora_embedder(tiny_lm, dropout=0.0)
        rows = _triplet_rows(embedder)
        loss = contrastive_backward(embedder.embed_ids, *rows, temperature=0.05, chunk_size=chunk, same_side=same_side)
        results.append((loss, _grads(embedder.model)))
    (loss_plain, grads_plain), (loss_cached, grads_cached) = results
    assert loss_cached == pytest.approx(loss_plain, rel=1e-5)
    assert grads_plain.keys() == grads_cached.keys() and len(grads_plain) == 2 * 7 * 2  # A and B, 7 linears, 2 layers
    for key in grads_plain:
        assert torch.allclose(grads_plain[key], grads_cached[key], atol=1e-5), key


def test_cached_loss_replays_dropout_masks(tiny_lm):
    """With dropout, the cached gradient equals the gradient of the same chunks run with a graph."""
    embedder = _lora_embedder(tiny_lm, dropout=0.3)
    rows = _triplet_rows(embedder)
    torch.manual_seed(1)
    embeddings = [torch.cat([embedder.embed_ids(g[i : i + 3]) for i in range(0, len(g), 3)]) for g in rows]
    reference_loss = info_nce(*embeddings, temperature=0.05)
    reference_loss.backward()
    reference = _grads(embedder.model)
    embedder.model.zero_grad(set_to_none=True)
    torch.manual_seed(1)
    loss = contrastive_backward(embedder.embed_ids, *rows, temperature=0.05, chunk_size=3)
    assert loss == pytest.approx(reference_loss.item(), rel=1e-5)
    for key, grad in _grads(embedder.model).items():
        assert torch.allclose(grad, reference[key], atol=1e-5), key


def test_gradient_checkpointing_gives_the_same_gradients(tiny_lm):
    from replab.embed.train import LoraSettings

    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        embedder = Embedder.from_pretrained(str(tiny_lm), bf16=False)
        add_lora(embedder, LoraSettings(r=4, alpha=8, dropout=0.0), gradient_checkpointing=checkpointing)
        embedder.model.train()
        rows = [embedder.tokenize([getattr(t, f) for t in TRIPLETS[:4]]) for f in ("anchor", "positive", "negative")]
        contrastive_backward(embedder.embed_ids, *rows, temperature=0.05)
        grads.append(_grads(embedder.model))
    for key in grads[0]:
        assert torch.allclose(grads[0][key], grads[1][key], atol=1e-5), key


def test_training_lowers_the_loss_and_saves_a_sentence_transformers_folder(tiny_lm, tmp_path):
    config = tiny_config(tiny_lm, "train.steps=12", "train.lr=3e-3")
    folder = train_embedder(config, tmp_path / "run", TRIPLETS)
    losses = [
        m["loss"] for m in (json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()) if "loss" in m
    ]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert (folder / "adapter" / "adapter_config.json").exists()

    from sentence_transformers import SentenceTransformer

    mine = Embedder.from_pretrained(str(folder / "model"), bf16=False)
    theirs = SentenceTransformer(str(folder / "model"), device="cpu")
    ours = mine.encode(TEXTS)
    assert np.abs(ours - theirs.encode(TEXTS)).max() < 1e-5
    # the merged model differs from the untuned base: training changed something
    base = Embedder.from_pretrained(str(tiny_lm), bf16=False).encode(TEXTS)
    assert np.abs(ours - base).max() > 1e-3


def test_resume_equals_uninterrupted(tiny_lm, tmp_path):
    train_embedder(tiny_config(tiny_lm, "train.steps=4"), tmp_path / "whole", TRIPLETS)
    train_embedder(tiny_config(tiny_lm, "train.steps=2"), tmp_path / "split", TRIPLETS)
    train_embedder(tiny_config(tiny_lm, "train.steps=4"), tmp_path / "split", TRIPLETS)
    a = load_file(str(tmp_path / "whole/checkpoints/step_00000004/model.safetensors"))
    b = load_file(str(tmp_path / "split/checkpoints/step_00000004/model.safetensors"))
    assert a.keys() == b.keys() and all("lora" in k for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("same_side", [False, True])
def test_ddp_gather_equals_one_process(tiny_lm, tmp_path, same_side):
    overrides = (f"train.same_side_negatives={same_side}",)
    train_embedder(tiny_config(tiny_lm, *overrides), tmp_path / "single", TRIPLETS)
    spawn_ddp(2, train_tiny, str(tiny_lm), str(tmp_path / "ddp"), *overrides)
    a = load_file(str(tmp_path / "single/checkpoints/step_00000003/model.safetensors"))
    b = load_file(str(tmp_path / "ddp/checkpoints/step_00000003/model.safetensors"))
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key
    single = [json.loads(x) for x in (tmp_path / "single/metrics.jsonl").read_text().splitlines()]
    ddp = [json.loads(x) for x in (tmp_path / "ddp/metrics.jsonl").read_text().splitlines()]
    losses = lambda rows: [r["loss"] for r in rows if "loss" in r]  # noqa: E731
    assert losses(single) == pytest.approx(losses(ddp), rel=1e-5)


def test_bad_inputs(tiny_lm, tmp_path, caplog):
    embedder = Embedder.from_pretrained(str(tiny_lm), bf16=False)
    with pytest.raises(DataError, match="item 1: a int is not text, an image, audio or a video"):
        embedder.encode(["fine", 3])
    with caplog.at_level(logging.WARNING, logger="replab.embed.model"):
        out = embedder.encode(["dog " * 25_000])
    assert out.shape == (1, embedder.dim) and "truncated" in caplog.text
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"anchor": "a", "positive": "b"}\n{"anchor": "c", "negative": "d"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: field 'positive'"):
        load_triplets_jsonl(bad)


def test_model_without_chat_template_uses_the_plain_format(tmp_path, caplog):
    lm = make_tiny_lm(tmp_path / "plain", chat_template=False)
    with caplog.at_level(logging.WARNING, logger="replab.embed.prompts"):
        embedder = Embedder.from_pretrained(str(lm), bf16=False)
    assert "no chat template" in caplog.text and not embedder.template.chat
    text = embedder.tokenizer.decode(embedder.tokenize(["a dog"])[0])
    assert text.endswith("a dog\nSummarize the above text in one word:")


def test_vision_language_model_without_a_processor_config_embeds_text_with_its_language_tower(tmp_path):
    from transformers import AutoTokenizer, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    lm = make_tiny_lm(tmp_path / "lm")
    tokenizer = AutoTokenizer.from_pretrained(lm)
    mrope = {"type": "mrope", "mrope_section": [1, 1, 2]}
    text = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, rope_scaling=mrope)  # fmt: skip
    vision = dict(depth=1, hidden_size=16, intermediate_size=32, num_heads=2, out_hidden_size=32,
                  patch_size=14, spatial_merge_size=2, temporal_patch_size=2, fullatt_block_indexes=[0])  # fmt: skip
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision)
    torch.manual_seed(0)
    Qwen2_5_VLForConditionalGeneration(config).save_pretrained(tmp_path / "vlm")
    tokenizer.save_pretrained(tmp_path / "vlm")
    embedder = Embedder.from_pretrained(str(tmp_path / "vlm"), bf16=False)
    assert "Vision" not in type(embedder.model).__name__ and not hasattr(embedder.model, "visual")
    assert embedder.modalities == ("text",)  # no preprocessor_config.json: the media cannot be prepared
    out = embedder.encode(TEXTS)
    assert out.shape == (len(TEXTS), 32) and np.isfinite(out).all()


def test_grsl_runs_end_to_end_on_tiny_bases(tmp_path):
    from replab.core.config import apply_overrides
    from replab.embed.grsl import GRSLConfig, run_grsl

    config = apply_overrides(GRSLConfig(), [
        "tiny.width=32", "tiny.depth=1", "tiny.heads=2", "tiny.vocab=400", "tiny.seq_len=16", "tiny.batch_size=4",
        "tiny.checkpoints=[0,3,6,12]", "tiny.corpus_lines=3000", "smollm2=false", "contrastive_steps=2",
        "contrastive_batch_size=4", "lora_r=4", "held_out=20", "docs=60", "perplexity_lines=10",
    ])  # fmt: skip
    table = run_grsl(config, tmp_path / "grsl")
    assert "Spearman" in table and (tmp_path / "grsl" / "grsl.png").exists()
    results = sorted((tmp_path / "grsl" / "results").glob("*.json"))
    assert len(results) == 4
    ppl = {json.loads(p.read_text())["base"]: json.loads(p.read_text())["word_perplexity"] for p in results}
    assert ppl["tiny LM, 12 steps"] < ppl["tiny LM, 0 steps"]  # pre-training makes a better generator
    # rerun resumes: nothing is recomputed, the same table comes back
    assert run_grsl(config, tmp_path / "grsl") == table


def test_all_layers_in_one_forward_match_single_layers(tiny_lm):
    from replab.embed.evaluate import anisotropy_per_layer
    from replab.embed.model import ALL_LAYERS

    embedder = Embedder.from_pretrained(str(tiny_lm), bf16=False)
    every = embedder.encode(TEXTS, batch_size=3, layer=ALL_LAYERS)
    assert every.shape == (3, len(TEXTS), embedder.dim)  # embeddings + 2 layers
    for k in range(3):
        assert np.allclose(every[k], embedder.encode(TEXTS, layer=k), atol=1e-5)
    assert np.allclose(every[-1], embedder.encode(TEXTS), atol=1e-5)
    values = anisotropy_per_layer(embedder, TEXTS)
    assert len(values) == 3 and all(-1 <= v <= 1 + 1e-9 for v in values)


TRICKY = ["  leading spaces", "trailing spaces   ", "new\nlines\n\n", "\n", "中文文本，带标点。", "emoji 🙂🚀 mixed",
          "", "   ", "a dog", "the cat sat on the mat " * 12]  # fmt: skip


def official_recipe(folder: Path, texts: list[str], max_text_tokens: int) -> tuple[list[list[int]], np.ndarray]:
    """LCO-Embedding's MTEB text path written out with plain transformers, independently of replab: each
    text cut to ``max_text_tokens`` tokens and decoded, one user message "{text}\nSummarize the above text in
    one word:", the chat template with its generation prompt, the whole string tokenised, left padding, the
    last token of the last hidden state, L2-normalised."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.padding_side = "left"
    model = AutoModel.from_pretrained(folder).eval()
    cut = [tokenizer.decode(ids[:max_text_tokens]) for ids in tokenizer(texts).input_ids]
    messages = [[{"role": "user", "content": f"{t}\nSummarize the above text in one word:"}] for t in cut]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = [tokenizer(r).input_ids for r in rendered]
    batch = tokenizer(rendered, padding=True, return_tensors="pt")
    with torch.no_grad():
        last = model(**batch).last_hidden_state[:, -1]
    return ids, torch.nn.functional.normalize(last, dim=-1).numpy()


def test_encode_equals_the_official_recipe_on_tricky_texts(tiny_lm):
    embedder = Embedder.from_pretrained(str(tiny_lm), bf16=False, max_text_tokens=40)
    ids, official = official_recipe(tiny_lm, TRICKY, max_text_tokens=40)
    assert embedder.tokenize(TRICKY, warn=False) == ids  # the ids of tokenising the whole template at once
    ours = embedder.encode(TRICKY, batch_size=4)  # shared prefix and length groups on
    cosine = (ours * official).sum(-1)
    assert cosine.min() >= 0.9999, dict(zip(TRICKY, cosine))
    assert embedder.template.prefix.count("system") == 0  # no system message of replab's own by default
