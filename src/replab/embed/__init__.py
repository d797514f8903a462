"""LCO-EMB: a generative LM (or a VLM's language tower) as an embedding model, tuned with text-only
contrastive LoRA; anisotropy and the generation–representation scaling law.

    from replab.embed import Embedder
    model = Embedder.from_pretrained("smollm2")            # or a run's model/ folder, a hub id
    model.similarity(model.encode_query(["a barking pet"]), model.encode_document(["dog", "cat"]))
"""

from replab.embed.model import Embedder
from replab.embed.train import EmbedConfig, train_embedder

__all__ = ["EmbedConfig", "Embedder", "train_embedder"]
