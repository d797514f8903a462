"""Representation autoencoders: a frozen representation encoder plus a trained ViT decoder (RAE, stage 1).

from replab.rae import load_rae
rae, config = load_rae("src/replab/assets/runs/rae-fmnist")
images = rae.decode(rae.encode(batch))       # [B, 1, 28, 28] in [0, 1] → latents → pixels
"""

from replab.rae.encoders import EncoderConfig, build_encoder
from replab.rae.model import RAE, RAEConfig, load_rae
from replab.rae.train import train_rae

__all__ = ["RAE", "EncoderConfig", "RAEConfig", "build_encoder", "load_rae", "train_rae"]
