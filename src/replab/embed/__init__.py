"""LCO-EMB: a generative LM (or a multimodal LM: Qwen2.5-VL, Qwen2.5-Omni thinker) as an embedding model,
tuned with text-only contrastive LoRA; anisotropy, cross-modal retrieval and alignment, and the
generation–representation scaling law.

    from replab.embed import Embedder
    model = Embedder.from_pretrained("smollm2")            # or a run's model/ folder, a hub id
    model.similarity(model.encode_query(["a barking pet"]), model.encode_document(["dog", "cat"]))

Where things are: ``model`` (Embedder: texts packed, media rows), ``media`` (reading every input shape),
``qwen_media`` (the official recipe's inputs for Qwen2.5-VL / Omni, without torchvision), ``crossmodal`` and
``evaluate`` (evaluations), ``mteb_model`` / ``mteb_tasks`` / ``mteb_run`` (scoring under mteb 2.x),
``train`` (contrastive LoRA), ``tiny_qwen`` / ``tiny_lm`` (models built offline).
"""

from replab.embed.model import Embedder
from replab.embed.qwen_media import MediaLimits, MediaPrompts
from replab.embed.train import EmbedConfig, train_embedder

__all__ = ["EmbedConfig", "Embedder", "MTEBModel", "MediaLimits", "MediaPrompts", "train_embedder"]


def __getattr__(name: str):
    if name == "MTEBModel":  # needs the [mteb] extra: imported on first use only
        from replab.embed.mteb_model import MTEBModel

        return MTEBModel
    raise AttributeError(f"module 'replab.embed' has no attribute {name!r}")
