"""The small Fashion-MNIST VLM (shipped local-vit + projector + a tiny Llama here, SmolLM2 in the benchmark):
it loads in the Embedder and embeds images, its caption pre-training resumes after a kill, captions are
varied and scored by the class they name."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from PIL import Image

from replab import ASSETS
from replab.core.config import apply_overrides
from replab.embed.fmnist_vlm import assemble, save_vlm
from replab.embed.model import Embedder
from replab.embed.pretrain_vlm import CLASS_WORDS, VLMPretrainConfig, caption, named_class, pretrain_vlm
from tests.embed_helpers import make_tiny_lm

ENCODER = ASSETS / "encoders" / "local-vit-fmnist"


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory):
    lm = make_tiny_lm(tmp_path_factory.mktemp("lm"))
    model, tokenizer = assemble(lm, ENCODER, projector_hidden=32)
    return save_vlm(model, tokenizer, tmp_path_factory.mktemp("vlm") / "model")


def _digit(seed: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (28, 28), dtype=np.uint8))


def test_the_assembled_vlm_loads_in_the_embedder_and_embeds_an_image(tiny_vlm):
    embedder = Embedder.from_pretrained(str(tiny_vlm), bf16=False)
    assert embedder.modalities == ("text", "image")
    out = embedder.encode([_digit(0), "a sneaker", {"text": "a shoe", "image": _digit(1)}, _digit(2)])
    assert out.shape == (4, embedder.dim) and np.isfinite(out).all()
    alone = embedder.encode([_digit(2)])
    assert np.abs(alone[0] - out[3]).max() < 1e-5
    row = embedder.rows([_digit(0)])[0]
    assert row.ids.count(embedder.full.config.image_token_id) == 49
    assert (
        embedder.tokenizer.decode(row.ids)
        .rstrip()
        .endswith("Summarize the above image in one word:<|im_end|>\n<|im_start|>assistant")
    )


def test_the_vision_tower_is_the_shipped_encoder(tiny_vlm):
    from replab.core.vit import read_local_vit

    embedder = Embedder.from_pretrained(str(tiny_vlm), bf16=False)
    shipped = read_local_vit(ENCODER).state_dict()
    assert all(torch.equal(v, embedder.full.model.visual.state_dict()[k]) for k, v in shipped.items())


def test_captions_vary_and_name_their_class():
    image = torch.zeros(1, 28, 28, dtype=torch.uint8)
    image[0, 4:24, 6:22] = 200
    rng = random.Random(0)
    captions = {caption(image, 7, rng) for _ in range(40)}
    assert len(captions) >= 4 and all(named_class(c) == 7 for c in captions)
    assert named_class("a dark t-shirt") == 0 and named_class("a shirt, not a t-shirt") == 6
    assert named_class("ankle boots on black") == 9 and named_class("nothing here") is None
    assert len(CLASS_WORDS) == 10


def test_pretraining_resumes_after_a_kill(tmp_path, monkeypatch):
    from replab.core import loop as loop_module

    lm = make_tiny_lm(tmp_path / "lm")
    config = apply_overrides(VLMPretrainConfig(), [f"lm={lm}", "projector_hidden=32", "eval_images=20",
                                                   "train.steps=4", "train.batch_size=4", "train.warmup_steps=1",
                                                   "train.ckpt_every=2", "train.log_every=1"])  # fmt: skip
    original = loop_module.TrainLoop.end_step

    def killed_after_two(self, step, *args, **kwargs):
        original(self, step, *args, **kwargs)
        if step == 1:
            raise KeyboardInterrupt  # the kill, after the checkpoint of step 2

    monkeypatch.setattr(loop_module.TrainLoop, "end_step", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        pretrain_vlm(config, tmp_path / "run")
    monkeypatch.setattr(loop_module.TrainLoop, "end_step", original)
    folder = pretrain_vlm(config, tmp_path / "run")
    steps = [json.loads(line)["step"] for line in (folder / "metrics.jsonl").read_text().splitlines()
             if '"loss"' in line]  # fmt: skip
    assert steps == [1, 2, 3, 4]  # steps 1–2 before the kill, 3–4 after: none repeated
    result = json.loads((folder / "caption_accuracy.json").read_text())
    assert result["images"] == 20 and 0 <= result["caption_accuracy"] <= 1
    assert Embedder.from_pretrained(str(folder / "model"), bf16=False).encode([_digit(0)]).shape[0] == 1


def test_the_class_words_are_held_out_of_the_text_tuning():
    from replab.embed.omni_claim import CLASS_TERMS
    from replab.embed.train import EmbedDataConfig, load_training_triplets

    triplets = load_training_triplets(EmbedDataConfig(exclude_words=list(CLASS_TERMS)))
    everything = load_training_triplets(EmbedDataConfig())
    assert 0 < len(triplets) < len(everything)
    words = {"shirt", "coat", "sandal", "sneaker", "boot", "bag", "trousers", "trouser", "pullover", "dress", "t-shirt"}
    for t in triplets:
        for text in (t.anchor, t.positive, t.negative or ""):
            tokens = {w.strip(".,;:()\"'").lower() for w in text.split()}
            assert not tokens & (words | {w + "s" for w in words} | {w + "es" for w in words}), text
    shuffled = load_training_triplets(EmbedDataConfig(exclude_words=list(CLASS_TERMS), shuffle_pairs=True))
    assert [t.anchor for t in shuffled] == [t.anchor for t in triplets]
    assert sum(a.positive == b.positive for a, b in zip(shuffled, triplets)) < len(triplets) / 100


def test_the_claim_runs_end_to_end_on_a_tiny_vlm_and_writes_its_report(tiny_vlm, tmp_path):
    from replab.embed.omni_claim import OmniClaimConfig, run_omni_claim

    config = OmniClaimConfig(vlm=str(tiny_vlm), seeds=[0], steps=2, batch_size=4, lora_r=2, images=20, texts=12, k=3)
    table = run_omni_claim(config, tmp_path / "claim")
    assert "zero-shot accuracy" in table and "shuffled control (1 seeds)" in table
    assert (tmp_path / "claim" / "report.md").exists() and (tmp_path / "claim" / "anisotropy.png").exists()
    results = sorted(p.name for p in (tmp_path / "claim" / "results").iterdir())
    assert results == ["base.json", "shuffled-seed0.json", "text-seed0.json"]
    assert run_omni_claim(config, tmp_path / "claim") == table  # a rerun resumes: nothing recomputed
