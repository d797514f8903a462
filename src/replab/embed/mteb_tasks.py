"""mteb 2.x tasks over your own data, in memory (no hub, no download): retrieval (text → text or text →
image), STS and image classification, each a real mteb task class that ``mteb.evaluate`` scores with its
own evaluators.

    task = local_retrieval("Mine", queries={"q1": "a barking pet"}, corpus={"d1": "dog"}, relevant={"q1": {"d1": 1}})
    mteb.evaluate(MTEBModel(embedder), tasks=[task], cache=None)
"""

from __future__ import annotations

from typing import Any

_COMMON = dict(
    description="A local task built by replab from the user's own data.",
    reference="https://github.com/embeddings-benchmark/mteb",
    dataset={"path": "local", "revision": "local"},
    eval_splits=["test"],
    eval_langs=["eng-Latn"],
    date=("2026-01-01", "2026-01-01"),
    dialect=[],
    domains=[],
    task_subtypes=[],
    license="not specified",
    annotations_creators="derived",
    sample_creation="found",
    bibtex_citation="",
)


def _metadata(name: str, kind: str, main_score: str, category: str, modalities: list[str]):
    from mteb.abstasks.task_metadata import TaskMetadata

    return TaskMetadata(type=kind, name=name, main_score=main_score, category=category, modalities=modalities,
                        **_COMMON)  # fmt: skip


def local_retrieval(name: str, queries: dict[str, str], corpus: dict[str, Any], relevant: dict[str, dict[str, int]]):
    """Text queries against a corpus of texts or images (PIL): an mteb ``Retrieval`` / ``Any2AnyRetrieval`` task."""
    from datasets import Dataset
    from mteb.abstasks.retrieval import AbsTaskRetrieval

    images = any(not isinstance(doc, str) for doc in corpus.values())
    docs = {"id": list(corpus), ("image" if images else "text"): list(corpus.values())}
    if not images:
        docs["title"] = [""] * len(corpus)
    metadata = _metadata(name, "Any2AnyRetrieval" if images else "Retrieval", "ndcg_at_10",
                         "t2i" if images else "t2t", ["text", "image"] if images else ["text"])  # fmt: skip

    class LocalRetrieval(AbsTaskRetrieval):
        def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
            split = {"queries": Dataset.from_dict({"id": list(queries), "text": list(queries.values())}),
                     "corpus": Dataset.from_dict(docs), "relevant_docs": relevant, "top_ranked": None}  # fmt: skip
            self.dataset = {"default": {"test": split}}
            self.data_loaded = True

    LocalRetrieval.metadata = metadata
    return LocalRetrieval()


def local_sts(name: str, pairs: list[tuple[str, str]], scores: list[float]):
    """Sentence pairs with similarity scores (0–5): an mteb ``STS`` task (Spearman of cosine similarities)."""
    from datasets import Dataset, DatasetDict
    from mteb.abstasks.sts import AbsTaskSTS

    class LocalSTS(AbsTaskSTS):
        min_score, max_score = 0, 5

        def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
            data = {"sentence1": [a for a, _ in pairs], "sentence2": [b for _, b in pairs], "score": list(scores)}
            self.dataset = DatasetDict({"test": Dataset.from_dict(data)})
            self.data_loaded = True

    LocalSTS.metadata = _metadata(name, "STS", "cosine_spearman", "t2t", ["text"])
    return LocalSTS()


def local_image_classification(name: str, train: tuple[list, list[int]], test: tuple[list, list[int]]):
    """Images (PIL, any mode) with labels: an mteb ``ImageClassification`` task (a classifier fitted on the
    train embeddings, accuracy on the test ones)."""
    from datasets import Dataset, DatasetDict
    from mteb.abstasks.classification import AbsTaskClassification

    class LocalImageClassification(AbsTaskClassification):
        input_column_name = "image"
        n_experiments = 1
        samples_per_label = max(1, min(train[1].count(label) for label in set(train[1])))

        def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
            self.dataset = DatasetDict({split: Dataset.from_dict({"image": images, "label": labels})
                                        for split, (images, labels) in (("train", train), ("test", test))})  # fmt: skip
            self.data_loaded = True

    LocalImageClassification.metadata = _metadata(name, "ImageClassification", "accuracy", "i2c", ["image"])
    return LocalImageClassification()
