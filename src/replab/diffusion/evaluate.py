"""``replab eval fd``: Fréchet distance (FD-fmnist or Inception FID) and k-NN precision/recall of samples."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from replab.core import dist
from replab.core.config import from_dict
from replab.core.data import DataConfig, load_images
from replab.core.paths import job_output
from replab.core.real_features import accuracy_from_features, real_features
from replab.core.run import Run
from replab.core.train import default_device
from replab.diffusion.sample import generate, load_diffusion, load_guide, resolve_rae
from replab.diffusion.samplers import GuidanceConfig
from replab.errors import ConfigError
from replab.metrics.features import FEATURE_LABEL, classify_accuracy, extract_features, load_feature_net
from replab.metrics.frechet import frechet_from_features
from replab.metrics.prdc import precision_recall

FEATURE_NETWORKS = {
    "fd-fmnist": f"{FEATURE_LABEL} (replab's Fashion-MNIST classifier, not Inception: not FID)",
    "inception": "Inception-v3 through torch-fidelity (literature FID; needs the user's weights)",
}


def evaluate_fd(
    run_folder: str | Path, n: int = 2000, features: str = "fd-fmnist", seed: int = 0,
    out: str | Path | None = None, guidance: GuidanceConfig | None = None, batch_size: int = 250,
) -> dict:  # fmt: skip
    """FD, precision/recall and class accuracy of ``n`` samples, drawn as ``replab diffusion sample`` draws
    them (``guidance`` defaults to the run's sample section); the evaluation run goes to ``out`` (default
    ``<run>/evals/fd``). Under ``torchrun`` the batches are split over the ranks and gathered on rank 0,
    which scores them (the same samples as one process); the other ranks return ``{}``."""
    if features not in FEATURE_NETWORKS:
        raise ConfigError(f"--features {features}: unknown; valid: {', '.join(FEATURE_NETWORKS)}")
    dist.init_from_env()
    device = default_device()
    model, config, rae = load_diffusion(run_folder, device)
    guidance = guidance or config.sample
    rae_config = Run.read_config(resolve_rae(config.rae, Path(run_folder)))
    test = load_images(from_dict(DataConfig, rae_config["data"], "rae config.yaml:data"), "test")
    labels = torch.arange(n) % model.num_classes if model.num_classes else None
    settings = {"run": str(run_folder), "n": n, "seed": seed, "features": features, "guidance": asdict(guidance)}

    def sample() -> torch.Tensor | None:
        mine = generate(model, rae, config, n=n, labels=labels, guidance=guidance, seed=seed, batch_size=batch_size,
                        weak_model=load_guide(guidance, device), shard=(dist.rank(), dist.world_size()))  # fmt: skip
        return dist.gather_batches(mine.cpu(), n, batch_size)

    if not dist.is_main():
        sample()
        return {}
    with Run(out or job_output(run_folder, "fd"), settings, kind="diffusion-eval") as run:
        with run.phase("sample"):
            images = sample()
            run.add_units("images", n)
        with run.phase("eval"):
            results = {**score_samples(images, test, labels, features), "n": n, "guidance": asdict(guidance)}
        run.log(None, **results)
        (run.artifacts / "fd.json").write_text(json.dumps(results, indent=1))
    return results


def format_results(results: dict) -> str:
    return "\n".join(f"  {k}: {v:.4f}" if isinstance(v, float) else f"  {k}: {v}" for k, v in results.items())


def score_samples(images: torch.Tensor, test, labels: torch.Tensor | None, features: str) -> dict:
    net, _ = load_feature_net()
    real_images = test.float(slice(0, min(len(test), 10000)))
    fake, real = extract_features(net, images), real_features(net, real_images)
    results = {FEATURE_LABEL: frechet_from_features(real, fake), "features": FEATURE_NETWORKS["fd-fmnist"]}
    precision, recall = precision_recall(real[: min(len(images), 5000)], fake[:5000])
    results.update(precision=precision, recall=recall)
    if features == "inception":
        from replab.metrics.inception import inception_metrics

        found, library = inception_metrics(images, real_images)
        results.update(found)
        results["fid_library"] = (
            f"{library} (Inception-v3, literature FID{', KID, precision/recall' * (len(found) > 1)})"
        )
    if labels is not None:
        accuracy = classify_accuracy(net, images, labels)
        real_accuracy = accuracy_from_features(net, real_features(net, test.float()), test.labels)
        results.update(class_accuracy=accuracy, real_test_accuracy=real_accuracy,
                       class_accuracy_ratio=accuracy / real_accuracy)  # fmt: skip
    return results


def reference_fds(data_config, n: int = 2000, seed: int = 0) -> dict:
    """Baselines beside a model's FD: a Gaussian fitted to training pixels, and real training images (the floor)."""
    train, test = load_images(data_config, "train"), load_images(data_config, "test")
    net, _ = load_feature_net()
    real = real_features(net, test.float(slice(0, min(len(test), 10000))))
    pixels = train.float().flatten(1).double().numpy()
    rng = np.random.default_rng(seed)
    mean, cov = pixels.mean(0), np.cov(pixels, rowvar=False)
    gaussian = rng.multivariate_normal(mean, cov, size=n, method="svd")
    gaussian = torch.from_numpy(gaussian).float().clamp(0, 1).view(n, *train.images.shape[1:])
    index = torch.from_numpy(rng.choice(len(train), n, replace=False))
    return {
        "gaussian_pixels": frechet_from_features(real, extract_features(net, gaussian)),
        "real_train_images": frechet_from_features(real, extract_features(net, train.float(index))),
    }
