"""Representation autoencoders: a frozen representation encoder plus a trained ViT decoder (RAE, stage 1)."""
