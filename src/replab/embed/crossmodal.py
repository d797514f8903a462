"""Cross-modal evaluation of an omnimodal ``Embedder``: text ↔ image retrieval over (image, text) pairs,
zero-shot classification of a folder of class sub-folders, anisotropy of any modality per layer, and the
image–text mutual-kNN kernel alignment per layer (LCO-Embedding's ``Analysis/``).

Pairs are a JSONL of ``{"image": path, "text": caption}`` (paths relative to the file). Texts shared by
several images are one query whose relevant documents are all of them (text → image); an image's relevant
document is its own text (image → text).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from replab.embed.data import jsonl_rows
from replab.errors import DataError
from replab.metrics.retrieval import anisotropy, mutual_knn_alignment, retrieval_metrics


@dataclass
class Pairs:
    images: list  # paths or PIL images
    texts: list[str]

    def __post_init__(self) -> None:
        if len(self.images) != len(self.texts) or not self.texts:
            raise DataError(f"pairs: {len(self.images)} images and {len(self.texts)} texts; they must pair up")


def read_pairs(path: str | Path) -> Pairs:
    """``{"image": path, "text": caption}`` per line; a bad line is named."""
    images, texts = [], []
    path = Path(path)
    for where, row in jsonl_rows(path, "--pairs"):
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not isinstance(row.get("image"), str):
            raise DataError(f"{where}: each line needs a string 'image' (a path) and a string 'text'")
        file = path.parent / row["image"]
        if not file.is_file():
            raise DataError(f"{where}: field 'image': {file} does not exist")
        images.append(str(file))
        texts.append(row["text"])
    if not texts:
        raise DataError(f"{path}: no pairs")
    return Pairs(images, texts)


def crossmodal_retrieval(embedder, pairs: Pairs, batch_size: int = 32) -> dict[str, dict[str, float]]:
    """text → image (queries: the distinct texts; relevant: their images) and image → text."""
    distinct = sorted(set(pairs.texts))
    position = {text: i for i, text in enumerate(distinct)}
    images = embedder.encode(list(pairs.images), batch_size=batch_size)
    queries = embedder.encode_query(distinct, batch_size=batch_size)
    docs = embedder.encode_document(distinct, batch_size=batch_size)
    owners: list[set[int]] = [set() for _ in distinct]
    for i, text in enumerate(pairs.texts):
        owners[position[text]].add(i)
    return {
        "text→image": retrieval_metrics(torch.as_tensor(queries) @ torch.as_tensor(images).T, owners),
        "image→text": retrieval_metrics(torch.as_tensor(images) @ torch.as_tensor(docs).T,
                                        [position[t] for t in pairs.texts]),
    }  # fmt: skip


def class_folder(folder: str | Path) -> tuple[list[str], list[int], list[str]]:
    """Images in the class sub-folders of ``folder``: files, labels, class names (underscores read as spaces)."""
    from replab.embed.media import IMAGE_SUFFIXES

    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"--images {folder}: not a folder")
    classes = sorted(p for p in root.iterdir() if p.is_dir())
    files, labels = [], []
    for label, sub in enumerate(classes):
        found = sorted(p for p in sub.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        files += [str(p) for p in found]
        labels += [label] * len(found)
    if len(classes) < 2 or not files:
        raise DataError(f"--images {folder}: zero-shot classification needs images in at least two class sub-folders")
    return files, labels, [p.name.replace("_", " ") for p in classes]


def zero_shot(embedder, images: list, labels: list[int], classes: list[str], batch_size: int = 32) -> dict[str, Any]:
    """Accuracy of classifying each image as the class text it is most similar to."""
    image_emb = torch.as_tensor(embedder.encode(list(images), batch_size=batch_size))
    class_emb = torch.as_tensor(embedder.encode_document(classes, batch_size=batch_size))
    predicted = (image_emb @ class_emb.T).argmax(1)
    truth = torch.as_tensor(labels)
    per_class = {name: float((predicted[truth == c] == c).double().mean()) for c, name in enumerate(classes)
                 if (truth == c).any()}  # fmt: skip
    return {"accuracy": float((predicted == truth).double().mean()), "images": len(labels), "classes": len(classes),
            "chance": 1 / len(classes), "per_class": per_class}  # fmt: skip


def anisotropy_per_layer(embedder, inputs: list, batch_size: int = 32) -> list[float]:
    """Mean pairwise cosine of the last-position states of every layer (0 = the input embeddings), for
    inputs of any modality."""
    from replab.embed.model import ALL_LAYERS

    return [anisotropy(layer) for layer in embedder.encode(list(inputs), batch_size=batch_size, layer=ALL_LAYERS)]


def alignment_per_layer(embedder, pairs: Pairs, k: int = 10, batch_size: int = 32) -> list[float]:
    """Mutual-kNN kernel alignment (Huh et al., 2024) between the image and the text embeddings of the same
    pairs, at every layer."""
    from replab.embed.model import ALL_LAYERS

    if len(pairs.texts) <= k:
        raise DataError(f"mutual kNN with k={k} needs more than {k} pairs, got {len(pairs.texts)}")
    images = embedder.encode(list(pairs.images), batch_size=batch_size, layer=ALL_LAYERS)
    texts = embedder.encode(list(pairs.texts), batch_size=batch_size, layer=ALL_LAYERS)
    return [mutual_knn_alignment(a, b, k=k) for a, b in zip(images, texts)]


def evaluate_crossmodal(embedder, pairs: Pairs | None, folder: str | Path | None, k: int = 10) -> dict[str, Any]:
    """Everything that the given data allow: retrieval and alignment per layer over ``pairs``, zero-shot
    classification of ``folder``."""
    result: dict[str, Any] = {}
    if pairs is not None:
        result.update(crossmodal_retrieval(embedder, pairs))
        result["mutual_knn@10 per layer"] = alignment_per_layer(embedder, pairs, k)
    if folder is not None:
        result["zero-shot"] = zero_shot(embedder, *class_folder(folder))
    return result


def format_crossmodal(name: str, result: dict[str, Any]) -> str:
    lines = ["| model | task | ndcg@10 | recall@1 | recall@10 |", "|---|---|---|---|---|"]
    for task in ("text→image", "image→text"):
        if task in result:
            m = result[task]
            lines.append(f"| {name} | {task} | {m['ndcg@10']:.3f} | {m['recall@1']:.3f} | {m['recall@10']:.3f} |")
    if "zero-shot" in result:
        z = result["zero-shot"]
        lines.append(f"zero-shot accuracy: {z['accuracy']:.3f} ({z['images']} images, {z['classes']} classes, "
                     f"chance {z['chance']:.3f})")  # fmt: skip
    if "mutual_knn@10 per layer" in result:
        values = result["mutual_knn@10 per layer"]
        lines.append("image–text mutual kNN@10 per layer: " + " ".join(f"{v:.3f}" for v in values))
    return "\n".join(lines)
