"""Latent diffusion in RAE latent space: DiT, DiT-DH, flow matching, samplers, guidance (RAE, stage 2)."""
