"""Real mteb 2.x (``mteb.evaluate``) on replab embedders, with local tasks defined here: no network, results
in a tmp folder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

mteb = pytest.importorskip("mteb")

from replab.embed.model import Embedder  # noqa: E402
from replab.embed.mteb_model import MTEBModel, weights_hash  # noqa: E402
from replab.embed.mteb_tasks import local_image_classification, local_retrieval, local_sts  # noqa: E402
from replab.metrics.retrieval import retrieval_metrics  # noqa: E402
from tests.embed_helpers import make_tiny_lm  # noqa: E402

QUERIES = {"q0": "a dog is", "q1": "the cat sat", "q2": "fox jumps", "q3": "large feline", "q4": "an act that"}
CORPUS = {"d0": "domestic animal", "d1": "on the mat", "d2": "quick brown", "d3": "genus panthera",
          "d4": "disastrous consequences", "d5": "summarize the above", "d6": "you are an embedding model"}  # fmt: skip
RELEVANT = {f"q{i}": {f"d{i}": 1} for i in range(5)}


@pytest.fixture(scope="module")
def text_model(tmp_path_factory) -> Embedder:
    embedder = Embedder.from_pretrained(str(make_tiny_lm(tmp_path_factory.mktemp("lm"))), bf16=False)
    embedder.template.prompts.update(query="Query: ", document="")
    return embedder


def _score(result, task: str, key: str) -> float:
    (task_result,) = [r for r in result.task_results if r.task_name == task]
    return task_result.scores["test"][0][key]


def test_mteb_ndcg_equals_replab_retrieval_metrics(text_model, tmp_path):
    model = MTEBModel(text_model, name="replab/tiny")
    from mteb.models.models_protocols import EncoderProtocol

    assert isinstance(model, EncoderProtocol)
    result = mteb.evaluate(model, tasks=[local_retrieval("LocalRetrieval", QUERIES, CORPUS, RELEVANT)],
                           cache=mteb.ResultCache(tmp_path / "cache"), co2_tracker=False)  # fmt: skip
    assert not result.exceptions
    queries = text_model.encode_query(list(QUERIES.values()))
    docs = text_model.encode_document(list(CORPUS.values()))
    ours = retrieval_metrics(torch.as_tensor(queries) @ torch.as_tensor(docs).T, list(range(5)))
    assert _score(result, "LocalRetrieval", "ndcg_at_10") == pytest.approx(ours["ndcg@10"], abs=1e-5)
    assert _score(result, "LocalRetrieval", "recall_at_1") == pytest.approx(ours["recall@1"], abs=1e-5)
    assert (tmp_path / "cache").exists()


def test_mteb_sts_is_the_spearman_of_replab_cosines(text_model):
    from scipy.stats import spearmanr

    pairs = [("a dog is", "domestic animal"), ("the cat sat", "on the mat"), ("fox jumps", "quick brown"),
             ("large feline", "an act"), ("summarize", "the mat"), ("you are", "genus panthera")]  # fmt: skip
    scores = [5.0, 4.0, 4.5, 0.5, 1.0, 0.0]
    result = mteb.evaluate(
        MTEBModel(text_model), tasks=[local_sts("LocalSTS", pairs, scores)], cache=None, co2_tracker=False
    )
    a = text_model.encode([p[0] for p in pairs])
    b = text_model.encode([p[1] for p in pairs])
    cosines = (a * b).sum(1)
    assert _score(result, "LocalSTS", "cosine_spearman") == pytest.approx(spearmanr(cosines, scores)[0], abs=1e-6)


def test_model_meta_is_real(text_model):
    meta = MTEBModel(text_model, name="replab/tiny").mteb_model_meta
    assert meta.name == "replab/tiny" and meta.revision == weights_hash(text_model.model)
    assert meta.embed_dim == text_model.dim and meta.modalities == ["text"] and meta.similarity_fn_name == "cosine"
    assert meta.n_parameters == sum(p.numel() for p in text_model.model.parameters())
    assert meta.max_tokens == 300 and meta.framework == ["PyTorch"]


def test_query_prompt_and_document_prompt_reach_the_model(text_model):
    from datasets import Dataset
    from mteb.types import PromptType
    from torch.utils.data import DataLoader

    loader = DataLoader(Dataset.from_dict({"text": list(QUERIES.values())}), batch_size=2)
    model = MTEBModel(text_model)
    task = local_retrieval("LocalRetrieval", QUERIES, CORPUS, RELEVANT).metadata
    as_query = model.encode(loader, task_metadata=task, hf_split="test", hf_subset="default",
                            prompt_type=PromptType.query)  # fmt: skip
    assert np.allclose(as_query, text_model.encode_query(list(QUERIES.values())), atol=1e-6)
    plain = model.encode(loader, task_metadata=task, hf_split="test", hf_subset="default")
    assert np.allclose(plain, text_model.encode(list(QUERIES.values())), atol=1e-6)


def _image(seed: int, mode: str = "RGB") -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (40, 48, 3), dtype=np.uint8)).convert(mode)


def test_tiny_vl_runs_text_to_image_retrieval_and_image_classification(tmp_path):
    from replab.embed.tiny_qwen import make_tiny_qwen

    vl = Embedder.from_pretrained(str(make_tiny_qwen(tmp_path / "vl", "vl")), bf16=False)
    model = MTEBModel(vl)
    assert "image" in model.mteb_model_meta.modalities
    corpus = {f"d{i}": _image(i, "L" if i % 2 else "RGB") for i in range(4)}  # mode-L images among them
    t2i = local_retrieval("LocalT2I", {"q0": "a sneaker", "q1": "a boot"}, corpus, {"q0": {"d0": 1}, "q1": {"d1": 1}})
    images = [_image(10 + i, "L" if i % 2 else "RGB") for i in range(8)]
    labels = [i % 2 for i in range(8)]
    classify = local_image_classification("LocalImageClassification", (images, labels), (images, labels))
    result = mteb.evaluate(model, tasks=[t2i, classify], cache=None, co2_tracker=False)
    assert not result.exceptions
    queries = vl.encode_query(["a sneaker", "a boot"])
    docs = vl.encode_document(list(corpus.values()))
    ours = retrieval_metrics(torch.as_tensor(queries) @ torch.as_tensor(docs).T, [0, 1])
    assert _score(result, "LocalT2I", "ndcg_at_10") == pytest.approx(ours["ndcg@10"], abs=1e-5)
    assert 0 <= _score(result, "LocalImageClassification", "accuracy") <= 1


def test_a_fused_row_is_one_message(tmp_path):
    from replab.embed.mteb_model import batch_rows

    image = _image(1, "L")
    rows = batch_rows({"text": ["a shoe", None], "image": [image, _image(2)]})
    assert rows[0] == {"text": "a shoe", "image": image} and isinstance(rows[1], Image.Image)
    audio = batch_rows({"audio": [{"array": torch.zeros(160), "sampling_rate": 16000}]})[0]
    assert audio["sampling_rate"] == 16000 and audio["array"].dtype == np.float32


def test_cli_runs_mteb_into_a_run_folder(tmp_path, monkeypatch, capsys):
    from replab.cli import main
    from replab.embed import mteb_run

    lm = make_tiny_lm(tmp_path / "lm")
    monkeypatch.setattr(mteb_run, "select_tasks", lambda names, benchmark: [
        local_retrieval("LocalRetrieval", QUERIES, CORPUS, RELEVANT)])  # fmt: skip
    main(["embed", "mteb", "--model", str(lm), "--tasks", "LocalRetrieval", "--out", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert "| LocalRetrieval |" in out and "1 task(s)" in out
    assert list((tmp_path / "run" / "mteb").rglob("LocalRetrieval.json"))
    assert (tmp_path / "run" / "config.yaml").exists()
