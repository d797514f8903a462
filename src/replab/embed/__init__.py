"""LCO-EMB: a generative LM (or a multimodal LM: Qwen2.5-VL, Qwen2.5-Omni thinker) as an embedding model,
tuned with text-only contrastive LoRA; anisotropy, cross-modal retrieval and alignment, and the
generation–representation scaling law.

    from replab.embed import Embedder
    model = Embedder.from_pretrained("smollm2")            # or a run's model/ folder, a hub id
    model.similarity(model.encode_query(["a barking pet"]), model.encode_document(["dog", "cat"]))

Where things are: ``model`` (Embedder: texts packed, media rows), ``media`` (reading every input shape),
``qwen_media`` (the official recipe's inputs for Qwen2.5-VL / Omni, without torchvision), ``crossmodal`` and
``evaluate`` (evaluations), ``train`` (contrastive LoRA), ``tiny_qwen`` / ``tiny_lm`` (models built offline).
"""

from replab.embed.model import Embedder
from replab.embed.qwen_media import MediaLimits, MediaPrompts
from replab.embed.train import EmbedConfig, train_embedder

__all__ = ["EmbedConfig", "Embedder", "MediaLimits", "MediaPrompts", "train_embedder"]
