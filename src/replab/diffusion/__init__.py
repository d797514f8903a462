"""Latent diffusion in RAE latent space: DiT, DiT-DH, flow matching, samplers, guidance (RAE, stage 2).

from replab.diffusion import DIT_MODELS, build_dit, generate, load_diffusion
model = build_dit("DiT-DH-S", channels=768, grid=16, num_classes=1000)   # a size by its registry name
model, config, rae = load_diffusion("src/replab/assets/runs/dit-dh-fmnist")
images = generate(model, rae, config, n=10, labels=torch.arange(10))     # the run's own guidance
"""

from replab.diffusion.evaluate import evaluate_fd
from replab.diffusion.models import DIT_MODELS, BlockStyle, DiT, build_dit
from replab.diffusion.sample import generate, load_diffusion, run_guidance, sample_grid
from replab.diffusion.samplers import SAMPLERS, GuidanceConfig
from replab.diffusion.train import DiffusionConfig, train_diffusion
from replab.diffusion.transport import Transport, TransportConfig

__all__ = [
    "DIT_MODELS", "SAMPLERS", "BlockStyle", "DiT", "DiffusionConfig", "GuidanceConfig", "Transport",
    "TransportConfig", "build_dit", "evaluate_fd", "generate", "load_diffusion", "run_guidance", "sample_grid",
    "train_diffusion",
]  # fmt: skip
