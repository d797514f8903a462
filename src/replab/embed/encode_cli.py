"""The omnimodal verbs of ``replab embed``: ``encode`` (inputs → .npy), ``anisotropy --modality`` and
``eval --pairs/--images`` (cross-modal retrieval, zero-shot classification, alignment per layer)."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

from replab.core.paths import check_file_out, job_output
from replab.embed.data import jsonl_rows
from replab.embed.media import media_kind
from replab.errors import DataError


def read_inputs(path: str | Path) -> list:
    """A ``.txt`` (one text per line), a ``.jsonl`` (a text or ``{text, image, audio, video}`` per line, paths
    relative to the file) or a folder (its media files, sorted)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*") if p.is_file() and media_kind(p.name))
        if not files:
            raise DataError(f"--inputs {path}: no image, audio or video files in the folder")
        return files
    if not path.is_file():
        raise DataError(f"--inputs {path}: no such file or folder")
    lines = path.read_text(encoding="utf-8").splitlines()
    if path.suffix.lower() != ".jsonl":
        texts = [line for line in lines if line.strip()]
        if not texts:
            raise DataError(f"--inputs {path}: no texts")
        return texts
    items = [_relative_to(value, path.parent, where) for where, value in jsonl_rows(path, "--inputs")]
    if not items:
        raise DataError(f"--inputs {path}: no inputs")
    return items


def _relative_to(value, folder: Path, where: str):
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        raise DataError(f"{where}: a line must hold a string or an object of text, image, audio, video")
    return {
        key: part if key == "text" or not isinstance(part, str) else str(folder / part) for key, part in value.items()
    }


def _load(model: str):
    from replab.embed.evaluate import load_encoder

    return load_encoder(model)


def encode_to_file(model: str, inputs: str, out: str, batch_size: int = 16) -> str:
    """Embed every input into ``out`` (``[n, dim]`` float32); the one-line summary."""
    out_path = check_file_out(out, "--out", (".npy",))
    items = read_inputs(inputs)
    embedder = _load(model)
    start = time.perf_counter()
    array = embedder.encode(items, batch_size=batch_size, show_progress_bar=True)
    seconds = time.perf_counter() - start
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.save(out_path, array)
    kinds = Counter(_kind(item) for item in items)
    counts = ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))
    return f"{len(items)} inputs ({counts}) → [{array.shape[0]}, {array.shape[1]}] in {seconds:.1f} s: {out_path}"


def _kind(item) -> str:
    if isinstance(item, dict):
        return "+".join(k for k in ("text", "image", "audio", "video") if k in item) or "audio"
    if isinstance(item, str):
        return media_kind(item) or "text"
    return "media"


def anisotropy(model: str, modality: str, inputs: str | None, n: int) -> list[float]:
    """Anisotropy per layer of ``n`` inputs of one modality: WordNet definitions for text by default, the
    files of ``inputs`` for media."""
    from replab.embed.crossmodal import anisotropy_per_layer

    if modality == "text" and inputs is None:
        from replab.embed.evaluate import random_texts

        items = random_texts(n)
    elif inputs is None:
        raise DataError(f"--modality {modality} needs --inputs (a folder of {modality} files)")
    else:
        items = [x for x in read_inputs(inputs) if _kind(x) == modality][:n]
        if len(items) < 2:
            raise DataError(f"--inputs {inputs}: fewer than two {modality} inputs")
    return anisotropy_per_layer(_load(model), items)


def crossmodal_eval(models: list[str], pairs: str | None, images: str | None, out: str | None) -> str:
    """``embed eval --pairs/--images``: each model's table; the JSON goes to ``out`` or, for a run of
    ``embed train``, to ``<run>/evals/crossmodal.json``."""
    from replab.embed.crossmodal import evaluate_crossmodal, format_crossmodal, read_pairs

    path = check_file_out(out, "--out", (".json",)) if out else None
    data = read_pairs(pairs) if pairs else None
    if images is not None:
        from replab.embed.crossmodal import class_folder

        class_folder(images)  # checked before any model loads
    results = {name: evaluate_crossmodal(_load(name), data, images) for name in models}
    if path is None and (Path(models[0]) / "config.yaml").exists():
        path = job_output(models[0], "crossmodal.json")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    tables = "\n\n".join(format_crossmodal(name, result) for name, result in results.items())
    return tables + (f"\nresults: {path}" if path else "")
