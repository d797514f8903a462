"""Latent diffusion in RAE latent space: DiT, DiT-DH, flow matching, samplers, guidance (RAE, stage 2).

from replab.diffusion import DIT_MODELS, build_dit, generate, load_diffusion
model = build_dit("DiT-DH-S", channels=768, grid=16, num_classes=1000)   # a size by its registry name
model, config, rae = load_diffusion("src/replab/assets/runs/dit-dh-fmnist")
images = generate(model, rae, config, n=10, labels=torch.arange(10))     # the run's own guidance

Layout: ``models`` (DiT, DiT-DH, the size registry), ``config`` (a run's config and the network it describes),
``transport`` (flow matching, the shifted time grid), ``samplers`` (Euler, Heun, Adams–Bashforth 2,
DPM-Solver++(2M), CFG over an interval, AutoGuidance, NFE counting), ``sample`` (a run's EMA model → images),
``latents`` (where training latents come from), ``train``, ``evaluate`` (FD-fmnist / FID), ``official``
(checkpoints of the official RAE release), ``codecs`` (the SD-VAE baseline's latents).
"""

from replab.core.lazy import lazy_exports

_PUBLIC = {
    "DIT_MODELS": "models", "BlockStyle": "models", "DiT": "models", "build_dit": "models",
    "DiffusionConfig": "config", "build_model": "config", "GuidanceConfig": "samplers", "SAMPLERS": "samplers",
    "Transport": "transport", "TransportConfig": "transport", "generate": "sample", "load_diffusion": "sample",
    "run_guidance": "sample", "sample_grid": "sample", "evaluate_fd": "evaluate", "train_diffusion": "train",
}  # fmt: skip
__all__ = sorted(_PUBLIC)
__getattr__ = lazy_exports(__name__, _PUBLIC)
