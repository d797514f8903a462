"""``replab embed omni-claim``: does text-only contrastive tuning improve a multimodal LM's image embeddings
(LCO-EMB's Figure 1), measured small on the Fashion-MNIST VLM (``replab.embed.fmnist_vlm``)?

The pre-trained VLM is tuned with ``embed train``'s recipe on WordNet triplets from which every text naming a
Fashion-MNIST class is removed (any gain on images is transfer, not the class words learnt in text), with
several seeds; a control is tuned the same number of steps on shuffled (anchor, positive) pairs. Each model is
measured on Fashion-MNIST test images: image and text anisotropy per layer, zero-shot classification against
the ten class descriptions, text → image retrieval, and image–caption mutual-kNN alignment per layer.
Finished measurements are kept (``results/``): a rerun resumes.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from replab.core.run import Run
from replab.errors import ConfigError

# every word naming a Fashion-MNIST class, with the synonyms WordNet gives them: held out of the text tuning
CLASS_TERMS = ["t-shirt", "tee shirt", "tee", "shirt", "trousers", "trouser", "pants", "pullover", "sweater",
               "jumper", "dress", "frock", "coat", "sandal", "sneaker", "gym shoe", "tennis shoe", "bag", "handbag",
               "boot", "ankle boot"]  # fmt: skip


@dataclass
class OmniClaimConfig:
    vlm: str = ""  # the pre-trained VLM folder (a run of 'embed pretrain-vlm' or its model/); "" = pre-train one
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    steps: int = 20  # contrastive LoRA steps per tuned model (text-only and control alike)
    batch_size: int = 32
    lr: float = 6e-4
    lora_r: int = 16
    images: int = 500  # Fashion-MNIST test images measured (50 per class)
    texts: int = 300  # random WordNet definitions for the text anisotropy
    k: int = 10  # mutual kNN
    pretrain_steps: int = 240  # when vlm = ""


def class_descriptions() -> list[str]:
    from replab.embed.pretrain_vlm import CLASS_WORDS

    return [f"a photo of a {word}" for word in CLASS_WORDS]


def test_images(n: int) -> tuple[list, list[int], list[str]]:
    """The first ``n // 10`` test images of each class, as PIL images, their labels and varied captions."""
    from PIL import Image

    from replab.core.data import load_fmnist
    from replab.embed.pretrain_vlm import caption

    test = load_fmnist("test")
    rng = random.Random(0)
    picked = [i for c in range(10) for i in (test.labels == c).nonzero().flatten()[: n // 10].tolist()]
    images = [Image.fromarray(test.images[i, 0].numpy()) for i in picked]
    labels = [int(test.labels[i]) for i in picked]
    captions = [caption(test.images[i], labels[k], rng) for k, i in enumerate(picked)]
    return images, labels, captions


def measure(folder: str | Path, config: OmniClaimConfig) -> dict[str, Any]:
    """Every figure of the claim for one model folder, from one all-layer pass over each set of inputs."""
    from replab.embed.evaluate import random_texts
    from replab.embed.model import ALL_LAYERS, Embedder
    from replab.metrics.retrieval import anisotropy, mutual_knn_alignment, retrieval_metrics

    embedder = Embedder.from_pretrained(str(folder))
    images, labels, captions = test_images(config.images)
    image_layers = torch.as_tensor(embedder.encode(images, layer=ALL_LAYERS))  # [layers + 1, n, dim]
    caption_layers = torch.as_tensor(embedder.encode(captions, layer=ALL_LAYERS))
    text_layers = embedder.encode(random_texts(config.texts, seed=1), layer=ALL_LAYERS)
    image_emb = torch.nn.functional.normalize(image_layers[-1], dim=-1)  # the last layer is the embedding
    classes = torch.as_tensor(embedder.encode_document(class_descriptions()))
    queries = torch.as_tensor(embedder.encode_query(class_descriptions()))
    predicted = (image_emb @ classes.T).argmax(1)
    truth = torch.as_tensor(labels)
    owners = [{i for i, label in enumerate(labels) if label == c} for c in range(10)]
    return {
        "model": str(folder),
        "image anisotropy per layer": [anisotropy(x) for x in image_layers],
        "text anisotropy per layer": [anisotropy(x) for x in text_layers],
        "zero-shot": {"accuracy": float((predicted == truth).double().mean()), "images": len(labels), "chance": 0.1},
        "text→image": retrieval_metrics(queries @ image_emb.T, owners),
        "mutual_knn per layer": [mutual_knn_alignment(a, b, k=config.k) for a, b in zip(image_layers, caption_layers)],
    }


def run_omni_claim(config: OmniClaimConfig, out: str | Path) -> str:
    from replab.embed.train import EmbedConfig, train_embedder

    if not config.seeds:
        raise ConfigError("seeds: at least one seed")
    if config.vlm:
        _check_vlm(Path(config.vlm))
    out = Path(out)
    with Run(out, {"omni_claim": asdict(config)}, kind="embed-omni-claim",
             defaults={"omni_claim": asdict(OmniClaimConfig())}) as run:  # fmt: skip
        base = _pretrained_vlm(config, out, run)
        models = {"base": base}
        for seed in config.seeds:
            for variant in ("text", "shuffled"):
                name = f"{variant}-seed{seed}"
                tuned = out / "tuned" / name
                if not (tuned / "model" / "config.json").exists():
                    embed = EmbedConfig(base=str(base))
                    embed.data.exclude_words = list(CLASS_TERMS)
                    embed.data.shuffle_pairs = variant == "shuffled"
                    embed.data.seed = seed
                    embed.lora.r, embed.lora.alpha, embed.lora.dropout = config.lora_r, 2 * config.lora_r, 0.0
                    tc = embed.train
                    tc.steps, tc.batch_size, tc.lr, tc.seed = config.steps, config.batch_size, config.lr, seed
                    tc.warmup_steps, tc.ckpt_every, tc.log_every = min(5, config.steps), config.steps, 5
                    tc.same_side_negatives = True
                    with run.phase(f"tune {name}"):
                        train_embedder(embed, tuned)
                models[name] = tuned / "model"
        results = {}
        for name, folder in models.items():
            done = out / "results" / f"{name}.json"
            if not done.exists():
                tick = time.perf_counter()
                with run.phase(f"measure {name}"):
                    result = measure(folder, config)
                result["seconds"] = time.perf_counter() - tick
                done.parent.mkdir(parents=True, exist_ok=True)
                done.write_text(json.dumps(result, indent=1))
            results[name] = json.loads(done.read_text())
        return report(results, config, out)


def _check_vlm(folder: Path) -> None:
    """Before any Run folder exists: ``vlm`` must be a pre-trained small VLM (or a run holding one)."""
    from replab.embed.model import FMNIST_VLM

    config = folder / "model" / "config.json" if (folder / "model" / "config.json").exists() else folder / "config.json"
    if not config.exists():
        raise ConfigError(f"vlm: {folder} holds no model (a run of 'embed pretrain-vlm' or its model/ folder)")
    if json.loads(config.read_text()).get("model_type") != FMNIST_VLM:
        raise ConfigError(f"vlm: {config.parent} is not the small Fashion-MNIST VLM ('embed pretrain-vlm')")


def _pretrained_vlm(config: OmniClaimConfig, out: Path, run: Run) -> Path:
    if config.vlm:
        folder = Path(config.vlm)
        return folder / "model" if (folder / "model" / "config.json").exists() else folder
    from replab.embed.pretrain_vlm import VLMPretrainConfig, pretrain_vlm

    pre = VLMPretrainConfig()
    pre.train.steps = config.pretrain_steps
    with run.phase("pretrain vlm"):
        return pretrain_vlm(pre, out / "vlm") / "model"


def _summary(results: dict[str, dict], prefix: str) -> dict[str, tuple[float, float]]:
    """Mean and spread (half the range) over the seeds of one variant."""
    group = [r for name, r in results.items() if name.startswith(prefix)]
    figures = {
        "image anisotropy (last layer)": [r["image anisotropy per layer"][-1] for r in group],
        "text anisotropy (last layer)": [r["text anisotropy per layer"][-1] for r in group],
        "zero-shot accuracy": [r["zero-shot"]["accuracy"] for r in group],
        "text→image nDCG@10": [r["text→image"]["ndcg@10"] for r in group],
        "text→image R@1": [r["text→image"]["recall@1"] for r in group],
        "text→image R@10": [r["text→image"]["recall@10"] for r in group],
        "image–caption mutual kNN (last layer)": [r["mutual_knn per layer"][-1] for r in group],
    }
    return {k: (float(np.mean(v)), float((max(v) - min(v)) / 2)) for k, v in figures.items()}


def report(results: dict[str, dict], config: OmniClaimConfig, out: Path) -> str:
    """``report.md`` (the table) and ``anisotropy.png`` (LCO-EMB's Figure 1, small); the table as text."""
    columns = {"base": _summary(results, "base"), "text-only tuned": _summary(results, "text-"),
               "shuffled control": _summary(results, "shuffled-")}  # fmt: skip
    seeds = len(config.seeds)
    lines = [f"| figure | base (untuned) | text-only tuned ({seeds} seeds) | shuffled control ({seeds} seeds) |",
             "|---|---|---|---|"]  # fmt: skip
    for figure in columns["base"]:
        cells = [f"{columns['base'][figure][0]:.3f}"]
        cells += [
            f"{columns[c][figure][0]:.3f} ± {columns[c][figure][1]:.3f}"
            for c in ("text-only tuned", "shuffled control")
        ]
        lines.append(f"| {figure} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    png = _figure(results, out / "anisotropy.png")
    (out / "report.md").write_text(f"# The omnimodal claim, small\n\n{table}\n\n![anisotropy per layer]({png.name})\n")
    return f"{table}\nreport: {out / 'report.md'}; figure: {png}"


def _figure(results: dict[str, dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for prefix, colour, label in (("base", "black", "base"), ("text-", "tab:blue", "text-only tuned"),
                                  ("shuffled-", "tab:orange", "shuffled control")):  # fmt: skip
        group = [r for name, r in results.items() if name.startswith(prefix)]
        for key, style in (("image anisotropy per layer", "-"), ("text anisotropy per layer", "--")):
            curve = np.mean([r[key] for r in group], axis=0)
            ax.plot(curve, style, color=colour, label=f"{label}, {key.split()[0]}")
    ax.set_xlabel("layer")
    ax.set_ylabel("anisotropy (mean pairwise cosine)")
    ax.set_title("Fashion-MNIST VLM: image (solid) and text (dashed) anisotropy")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
