"""The omnimodal Embedder on tiny randomly initialised Qwen2.5-VL and Qwen2.5-Omni thinkers built offline:
every input shape, batching, left padding, save → reload, LoRA on the language model only, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from replab.embed.data import load_triplets_jsonl
from replab.embed.model import Embedder
from replab.embed.tiny_qwen import make_tiny_qwen
from replab.errors import DataError
from tests.media_helpers import write_mp4, write_wav

av = pytest.importorskip("av")


@pytest.fixture(scope="module")
def omni(tmp_path_factory) -> Embedder:
    return Embedder.from_pretrained(str(make_tiny_qwen(tmp_path_factory.mktemp("omni"), "omni")), bf16=False)


@pytest.fixture(scope="module")
def vl(tmp_path_factory) -> Embedder:
    return Embedder.from_pretrained(str(make_tiny_qwen(tmp_path_factory.mktemp("vl"), "vl")), bf16=False)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    """An image, a WAV tone and an MP4 clip written here (PyAV), plus broken files of each kind."""
    folder = tmp_path_factory.mktemp("media")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(folder / "a.png")
    write_wav(folder / "tone.wav", (0.2 * np.sin(np.arange(8000) / 16000 * 2 * np.pi * 330)).astype(np.float32))
    write_mp4(folder / "clip.mp4", rng)
    (folder / "broken.png").write_bytes(b"not an image")
    (folder / "broken.mp4").write_bytes(b"not a video")
    write_wav(folder / "empty.wav", np.zeros(0, dtype=np.float32))
    return {p.name: p for p in folder.iterdir()}


def _image(seed: int, size=(36, 52)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8))


def _wave(seconds: float = 0.5, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {"array": rng.normal(0, 0.1, int(16000 * seconds)).astype(np.float32), "sampling_rate": 16000}


def test_modalities_of_each_family(omni, vl):
    assert omni.modalities == ("text", "image", "video", "audio")
    assert vl.modalities == ("text", "image", "video")


def test_every_input_shape_embeds(omni, media):
    frames = [_image(s, (56, 56)) for s in range(4)]
    inputs = [
        "a dog is a domestic animal",
        _image(1),
        str(media["a.png"]),
        np.asarray(_image(2)),
        _wave(),
        str(media["tone.wav"]),
        str(media["clip.mp4"]),
        frames,
        {"text": "a red square", "image": _image(3)},
        {"image": str(media["a.png"])},
    ]
    out = omni.encode(inputs)
    assert out.shape == (len(inputs), omni.dim)
    assert np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
    assert np.allclose(out[1], omni.encode([_image(1)])[0], atol=1e-5)
    assert np.allclose(out[2], out[9], atol=1e-6)  # a path, bare or in a dict, is the same image


def test_batch_equals_single_items_and_order(omni):
    inputs = [_image(1), "a cat", _image(2, (84, 56)), _wave(0.3), {"text": "a shoe", "image": _image(4)}, _wave(0.8)]
    together = omni.encode(inputs, batch_size=4)
    alone = np.concatenate([omni.encode([x]) for x in inputs])
    assert np.abs(together - alone).max() < 1e-5


def test_left_padding_puts_the_last_token_last(vl):
    from replab.embed.qwen_media import batch_inputs

    rows = vl.rows([_image(1), _image(2, (112, 168))])
    assert len(rows[0].ids) < len(rows[1].ids)
    inputs = batch_inputs(rows, vl.tokenizer.pad_token_id, vl.full.config, vl.device)
    assert inputs["attention_mask"][:, -1].all() and not inputs["attention_mask"][0, 0]
    assert inputs["input_ids"][0, -1] == rows[0].ids[-1]
    assert (inputs["mm_token_type_ids"] == 1).sum() == sum(r.ids.count(vl.full.config.image_token_id) for r in rows)


def test_query_prompt_reaches_fused_text(omni):
    omni.template.prompts["query"] = "Query: "
    try:
        plain = omni.encode([{"text": "a shoe", "image": _image(4)}])
        prompted = omni.encode([{"text": "a shoe", "image": _image(4)}], prompt_name="query")
    finally:
        omni.template.prompts["query"] = ""
    assert not np.allclose(plain, prompted)


def test_save_and_reload_equal(omni, tmp_path):
    inputs = ["a cat", _image(1), _wave(), {"text": "a shoe", "image": _image(4)}]
    before = omni.encode(inputs)
    omni.media.limits.max_frames = 16
    try:
        omni.save(tmp_path / "saved")
    finally:
        omni.media.limits.max_frames = 64
    again = Embedder.from_pretrained(str(tmp_path / "saved"), bf16=False)
    assert again.media.limits.max_frames == 16 and again.modalities == omni.modalities
    assert np.abs(again.encode(inputs) - before).max() < 1e-6
    saved = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert saved["architectures"] == ["Qwen2_5OmniThinkerForConditionalGeneration"]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda m: ["a text", str(m["broken.png"])], "item 1 (.*broken.png): cannot read the image"),
        (lambda m: [str(m["empty.wav"])], "item 0 (.*empty.wav): the audio is empty"),
        (lambda m: [str(m["a.png"].parent / "broken.mp4")], "item 0 (.*broken.mp4): cannot decode the video"),
        (lambda m: [str(m["a.png"].parent / "nowhere.png")], "item 0: no such file .*nowhere.png"),
        (lambda m: [{"text": "x", "picture": "y"}], "item 0: unknown key 'picture'"),
        (lambda m: [{"array": np.zeros(0, np.float32), "sampling_rate": 16000}], "item 0: audio must be a non-empty"),
        (lambda m: [[]], "item 0: an empty list"),
        (lambda m: [{"text": "x", "audio": _wave()}], "item 0: fused inputs are text \\+ image"),
        (lambda m: [np.zeros((4, 4), np.float32)], "item 0: an image array must be HW or HWC uint8"),
    ],
)  # fmt: skip
def test_bad_inputs_are_one_line(omni, media, make, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        omni.encode(make(media))
    assert "\n" not in str(caught.value)


def test_text_only_model_refuses_media_in_one_line(tmp_path):
    from tests.embed_helpers import make_tiny_lm

    text = Embedder.from_pretrained(str(make_tiny_lm(tmp_path / "lm")), bf16=False)
    assert text.modalities == ("text",)
    with pytest.raises(DataError, match="item 1: a image input, but this model embeds only text"):
        text.encode(["a cat", _image(1)])


def test_vl_model_refuses_audio(vl):
    with pytest.raises(DataError, match="item 0: a audio input, but this model embeds only text, image, video"):
        vl.encode([_wave()])


def test_jsonl_with_media_sides(tmp_path, media):
    (tmp_path / "pics").mkdir()
    _image(1).save(tmp_path / "pics" / "s.png")
    lines = [{"anchor": {"image": "pics/s.png"}, "positive": "a sneaker"},
             {"anchor": "a boot", "positive": {"text": "a boot", "image": "pics/s.png"}}]  # fmt: skip
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines))
    triplets = load_triplets_jsonl(path)
    assert triplets[0].anchor == {"image": str((tmp_path / "pics" / "s.png").resolve())}
    path.write_text(json.dumps({"anchor": {"image": "missing.png"}, "positive": "x"}))
    with pytest.raises(DataError, match=r"pairs.jsonl:1: field 'anchor': 'image' file .*missing.png does not exist"):
        load_triplets_jsonl(path)
    path.write_text(json.dumps({"anchor": {"photo": "x.png"}, "positive": "x"}))
    with pytest.raises(DataError, match="pairs.jsonl:1: field 'anchor': unknown key 'photo'"):
        load_triplets_jsonl(path)


def test_lora_trains_only_the_language_model(tmp_path, media):
    from replab.embed.train import train_embedder
    from tests.embed_helpers import TRIPLETS, tiny_config

    base = make_tiny_qwen(tmp_path / "omni", "omni")
    (tmp_path / "pics").mkdir()
    lines = [{"anchor": {"image": str(media["a.png"])}, "positive": "a small picture"},
             {"anchor": {"audio": str(media["tone.wav"])}, "positive": "a tone"}] * 2  # fmt: skip
    (tmp_path / "pairs.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    config = tiny_config(base, "train.steps=2", "train.batch_size=2", f"data.source={tmp_path / 'pairs.jsonl'}")
    run = train_embedder(config, tmp_path / "run", load_triplets_jsonl(tmp_path / "pairs.jsonl"))
    from safetensors.torch import load_file

    old, new = load_file(base / "model.safetensors"), load_file(run / "model" / "model.safetensors")
    towers = [k for k in old if k.startswith(("visual.", "audio_tower."))]  # the released layout
    language = [k for k in old if k.startswith("model.layers.") and k.endswith("proj.weight")]
    assert towers and language and set(old) == set(new)
    assert all(torch.equal(old[k], new[k]) for k in towers)  # bit-identical vision and audio towers
    assert any(not torch.equal(old[k], new[k]) for k in language)  # the merged LoRA moved the LM
    tuned = Embedder.from_pretrained(str(run / "model"), bf16=False)
    assert tuned.encode([_image(1), "a cat"]).shape == (2, tuned.dim)
    assert TRIPLETS  # the text triplets of the text-only tests stay the default data


def test_cli_encode_eval_and_anisotropy_on_a_tiny_multimodal_model(tmp_path, media, capsys):
    from replab.cli import main

    model = make_tiny_qwen(tmp_path / "omni", "omni")
    shapes = {"sneaker": (40, 40), "boot": (56, 40), "bag": (40, 64)}
    lines = []
    for c, (name, size) in enumerate(shapes.items()):
        (tmp_path / "classes" / name).mkdir(parents=True)
        for k in range(4):
            _image(10 * c + k, size).save(tmp_path / "classes" / name / f"{k}.png")
            lines.append({"image": f"classes/{name}/{k}.png", "text": f"a photo of a {name}"})
    (tmp_path / "pairs.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    (tmp_path / "inputs.jsonl").write_text('"a cat"\n{"image": "classes/bag/0.png"}\n{"text": "a bag", '
                                           '"image": "classes/bag/1.png"}\n')  # fmt: skip
    assert main(["embed", "encode", "--model", str(model), "--inputs", str(tmp_path / "inputs.jsonl"),
                 "--out", str(tmp_path / "e.npy")]) in (0, None)  # fmt: skip
    assert np.load(tmp_path / "e.npy").shape == (3, 64)
    assert "3 inputs (image 1, text 1, text+image 1)" in capsys.readouterr().out
    clean = tmp_path / "clean"
    clean.mkdir()
    for name in ("a.png", "tone.wav", "clip.mp4"):
        (clean / name).write_bytes(media[name].read_bytes())
    main(["embed", "encode", "--model", str(model), "--inputs", str(clean), "--out", str(tmp_path / "m.npy")])
    assert np.load(tmp_path / "m.npy").shape == (3, 64) and "audio 1, image 1, video 1" in capsys.readouterr().out
    main(["embed", "eval", "--model", str(model), "--pairs", str(tmp_path / "pairs.jsonl"), "--images",
          str(tmp_path / "classes"), "--out", str(tmp_path / "x.json")])  # fmt: skip
    result = json.loads((tmp_path / "x.json").read_text())[str(model)]
    assert result["text→image"]["queries"] == 3 and result["image→text"]["queries"] == 12
    assert len(result["mutual_knn@10 per layer"]) == 3 and result["zero-shot"]["classes"] == 3
    assert "zero-shot accuracy" in capsys.readouterr().out
    main(["embed", "anisotropy", "--model", str(model), "--modality", "image", "--inputs", str(tmp_path / "classes")])
    layers = capsys.readouterr().out.strip().splitlines()
    assert len(layers) == 3 and all(-1 <= float(line.split(":")[1]) <= 1 for line in layers)


def test_retrieval_with_several_relevant_documents():
    from replab.metrics.retrieval import retrieval_metrics

    scores = torch.tensor([[0.9, 0.5, 0.8, 0.1], [0.1, 0.2, 0.3, 0.4]])
    m = retrieval_metrics(scores, [{0, 1}, {2}], k=10)  # query 0: relevant at ranks 1 and 3; query 1: rank 2
    ndcg0 = (1 + 1 / np.log2(4)) / (1 + 1 / np.log2(3))
    assert m["ndcg@10"] == pytest.approx((ndcg0 + 1 / np.log2(3)) / 2)
    assert m["recall@1"] == pytest.approx(0.25) and m["recall@10"] == 1 and m["mrr"] == pytest.approx(0.75)
    assert retrieval_metrics(scores, [{0}, {2}]) == retrieval_metrics(scores, [0, 2])
