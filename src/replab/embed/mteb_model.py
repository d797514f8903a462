"""replab embedders under real mteb 2.x: ``MTEBModel(embedder)`` is what a user hands to ``mteb.evaluate``.

It is mteb's ``EncoderProtocol`` (a subclass of mteb's own ``AbsEncoder``) with a real ``ModelMeta``: the
name, a revision that is the content hash of the weights, the modalities the embedder takes, its
dimension, cosine similarity, the parameter count. ``encode`` reads mteb's ``DataLoader`` of batch dicts:
``text`` (for queries mteb has already joined an ``instruction`` to it, for documents the ``title``),
``image`` (PIL, any mode), ``audio`` and ``video`` (through mteb's own collators, attached as its
sentence-transformers wrapper attaches them); a row with text and image is one fused LCO-Embedding message,
not a sum of two embeddings. ``prompt_type`` query/document picks replab's query/document prompt.

    import mteb
    from replab.embed import Embedder, MTEBModel
    results = mteb.evaluate(MTEBModel(Embedder.from_pretrained("smollm2")), tasks=mteb.get_tasks(["STSBenchmark"]))
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch

try:
    from mteb.models.abs_encoder import AbsEncoder
except ImportError as exc:  # pragma: no cover - the [mteb] extra is missing
    raise ImportError("MTEBModel needs mteb 2.x: pip install 'replab[mteb]'") from exc

MODALITY_KEYS = ("text", "image", "audio", "video")


def weights_hash(model: torch.nn.Module) -> str:
    """The first 12 hex digits of the SHA-256 of every parameter and buffer, in name order (a revision)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:12]


def model_meta(embedder, name: str | None = None, revision: str | None = None):
    """mteb's ``ModelMeta`` of a replab ``Embedder``."""
    from mteb.models.model_meta import ModelMeta

    model = embedder.full if embedder.full is not None else embedder.model
    return ModelMeta(
        loader=None,
        name=name or "replab/embedder",
        revision=revision or weights_hash(model),
        release_date=None,
        languages=None,
        n_parameters=sum(p.numel() for p in model.parameters()),
        memory_usage_mb=None,
        max_tokens=embedder.max_text_tokens,
        embed_dim=embedder.dim,
        license=None,
        open_weights=True,
        public_training_code=None,
        public_training_data=None,
        framework=["PyTorch"],
        similarity_fn_name="cosine",
        use_instructions=False,
        training_datasets=None,
        modalities=list(embedder.modalities),
    )


class MTEBModel(AbsEncoder):
    """An ``Embedder`` as mteb 2.x evaluates it (``mteb.evaluate(MTEBModel(embedder), tasks=...)``)."""

    def __init__(self, embedder, name: str | None = None, revision: str | None = None) -> None:
        self.model = embedder
        self.mteb_model_meta = model_meta(embedder, name, revision)

    def encode(
        self,
        inputs,
        *,
        task_metadata,
        hf_split: str,
        hf_subset: str,
        prompt_type=None,
        **kwargs: Any,
    ) -> np.ndarray:
        kind = getattr(prompt_type, "value", prompt_type)
        prompt_name = {"query": "query", "document": "document"}.get(kind)
        _attach_collator(inputs)
        items = [row for batch in inputs for row in batch_rows(batch)]
        return self.model.encode(items, batch_size=kwargs.get("batch_size", 32), prompt_name=prompt_name,
                                 show_progress_bar=kwargs.get("show_progress_bar", False))  # fmt: skip

    def similarity(self, embeddings1, embeddings2) -> torch.Tensor:
        return self.model.similarity(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1, embeddings2) -> torch.Tensor:
        a = torch.nn.functional.normalize(torch.as_tensor(np.asarray(embeddings1)).float(), dim=-1)
        b = torch.nn.functional.normalize(torch.as_tensor(np.asarray(embeddings2)).float(), dim=-1)
        return (a * b).sum(-1)


def batch_rows(batch: dict[str, Any]) -> list:
    """One ``Embedder.encode`` input per row of an mteb batch: its text, its medium, or text and image fused."""
    present = [key for key in MODALITY_KEYS if key in batch and batch[key] is not None]
    size = len(batch[present[0]]) if present else 0
    rows = []
    for i in range(size):
        parts = {key: batch[key][i] for key in present if batch[key][i] is not None}
        if "audio" in parts:
            parts["audio"] = _audio(parts["audio"])
        if "video" in parts:
            parts["video"] = _frames(parts["video"])
        if list(parts) == ["text"]:
            rows.append(parts["text"])
        elif len(parts) == 1:
            rows.append(next(iter(parts.values())))
        else:
            rows.append(parts)
    return rows


def _audio(value) -> dict:
    """mteb's audio collator gives ``{"array", "sampling_rate"}`` (a tensor or array); replab reads either."""
    if isinstance(value, dict):
        array = value.get("array")
        return {"array": np.asarray(array.numpy() if hasattr(array, "numpy") else array, dtype=np.float32),
                "sampling_rate": int(value["sampling_rate"])}  # fmt: skip
    return {"array": np.asarray(value, dtype=np.float32), "sampling_rate": 16000}


def _frames(value) -> list:
    """A video as mteb's collator gives it (``[T, C, H, W]`` or ``[T, H, W, C]`` frames) → a list of HWC uint8."""
    frames = value.get("frames", value) if isinstance(value, dict) else value
    array = np.asarray(frames.numpy() if hasattr(frames, "numpy") else frames)
    if array.ndim == 4 and array.shape[1] in (1, 3) and array.shape[-1] not in (1, 3):
        array = array.transpose(0, 2, 3, 1)
    if array.dtype != np.uint8:
        array = np.clip(array * (255 if array.max() <= 1 else 1), 0, 255).astype(np.uint8)
    return list(array)


def _attach_collator(inputs) -> None:
    """mteb's audio/video collators (resampling to 16 kHz, decoding frames), where its own sentence-transformers
    wrapper attaches them."""
    features = getattr(getattr(inputs, "dataset", None), "features", None) or {}
    if "video" in features:
        from mteb.models.modality_collators import VideoCollator

        inputs.collate_fn = VideoCollator(target_sampling_rate=16000, fps=2.0, max_frames=64, num_frames=None,
                                          max_samples=None, min_frames=1)  # fmt: skip
    elif "audio" in features:
        from mteb.models.modality_collators import AudioCollator

        inputs.collate_fn = AudioCollator(target_sampling_rate=16000, max_samples=None)
