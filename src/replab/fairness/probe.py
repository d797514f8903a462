"""``replab fairness probe``: an attribute probe on the frozen RAE encoder's (standardised) tokens.

A per-token Linear → GELU → mean over tokens → Linear (``hidden`` 0: a linear probe on the mean token). The
noise-aware variant also sees the flow-matching time and is trained on x_t = (1 − t)·z + t·ε, so that its
gradient can guide sampling. The probe is trained on labelled real training images, with a seeded quarter of
them held out: the held-out (true, predicted) pairs and their confusion matrix are saved beside the weights
— the audit's error correction bootstraps over them — with the fingerprint of the encoder's latents, so
that a probe is never applied to another encoder's tokens.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from replab.core.config import from_dict, to_dict
from replab.core.data import BatchOrder, load_images
from replab.core.loop import TrainLoop
from replab.core.run import Run
from replab.core.train import RESUMABLE_KEYS, TrainConfig, adamw, start_training
from replab.errors import ConfigError, DataError
from replab.fairness.attributes import GROUPS, TONE_GROUPS, ToneRule, class_groups
from replab.metrics.fairness import confusion_matrix
from replab.rae.latent_cache import latents_fingerprint, load_or_encode
from replab.rae.model import RAEConfig

PROBE_WEIGHTS, PROBE_INFO = "probe.safetensors", "probe.json"
ATTRIBUTES = {"tone": TONE_GROUPS, "group": GROUPS}


@dataclass
class ProbeSpec:
    attribute: str = "tone"  # tone | group
    hidden: int = 256  # 0 = a linear probe on the mean token
    noise_aware: bool = False  # condition on the flow-matching time (for guidance)


@dataclass
class ProbeConfig:
    rae: str = ""  # the RAE run whose encoder's tokens the probe reads
    probe: ProbeSpec = field(default_factory=ProbeSpec)
    val_fraction: float = 0.25  # held out to measure the probe's errors (the correction's calibration set)
    # real: the tokens of the training images; reconstructed: the tokens of their RAE reconstructions, labelled
    # from the reconstructions — the probe then trains, and measures its errors, on decoder outputs, as the
    # generated images it audits are (a generator's images are decoded latents, re-encoded for the probe)
    inputs: str = "real"
    # a labelled image folder, one sub-folder per group, for an attribute of the user's own (the probe then
    # audits without an auditor: its shares are error-corrected by its held-out confusion); empty: the preset's
    data: str = ""
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1500, batch_size=256, lr=1e-3, bf16=False))


class AttributeProbe(nn.Module):
    def __init__(self, channels: int, groups: int, spec: ProbeSpec) -> None:
        super().__init__()
        self.spec = spec
        width = spec.hidden or channels
        self.token = nn.Linear(channels, width) if spec.hidden else nn.Identity()
        self.time = nn.Linear(32, width) if spec.noise_aware else None
        self.head = nn.Linear(width, groups)

    def forward(self, latents: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        tokens = self.token(latents.flatten(2).transpose(1, 2))
        if self.time is not None:
            if t is None:
                raise ConfigError("a noise-aware probe needs the time t of its inputs")
            freqs = torch.exp(-math.log(1000) * torch.arange(16, device=t.device) / 16)
            angles = 1000 * t.float()[:, None] * freqs
            tokens = tokens + self.time(torch.cat([angles.sin(), angles.cos()], -1))[:, None]
        if self.spec.hidden:
            tokens = F.gelu(tokens)
        return self.head(tokens.mean(1))


def attribute_labels(attribute: str, images: torch.Tensor, labels: torch.Tensor, rule: ToneRule) -> torch.Tensor:
    if attribute == "tone":
        return rule.groups(images, labels)
    if attribute == "group":
        return class_groups(labels)
    raise ConfigError(f"probe.attribute: unknown '{attribute}'; valid: {', '.join(ATTRIBUTES)}")


def _split(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    held = int(round(n * fraction))
    return order[held:].sort().values, order[:held].sort().values


def train_probe(config: ProbeConfig, out: str | Path) -> Path:
    if not config.rae:
        raise ConfigError("rae: give the RAE run whose tokens the probe reads (--rae runs/rae)")
    tc, spec = config.train, config.probe
    latents, targets, names, rule = _training_set(config)  # inputs checked before the device and the Run
    device = start_training(tc)
    fit, held = _split(len(latents), config.val_fraction, tc.seed)
    probe = AttributeProbe(latents.shape[1], len(names), spec).to(device)
    optimizer = adamw(probe.parameters(), tc)
    draws = torch.Generator().manual_seed(tc.seed + 1)
    order = BatchOrder(len(fit), tc.batch_size, tc.seed)
    with Run(out, to_dict(config), kind="probe", mutable=RESUMABLE_KEYS) as run:
        loop = TrainLoop(run, tc, {"probe": probe}, {"probe": optimizer}, {"draws": draws},
                         units={"images": tc.batch_size}, desc="probe")  # fmt: skip
        for step in loop:
            index = fit[order.indices(step)]
            z, t = latents[index], None
            if spec.noise_aware:
                t = torch.rand(len(z), generator=draws)
                z = (1 - t.view(-1, 1, 1, 1)) * z + t.view(-1, 1, 1, 1) * torch.randn(z.shape, generator=draws)
            loss = F.cross_entropy(probe(z.to(device), None if t is None else t.to(device)), targets[index].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loop.end_step(step, loss=loss)
        predicted = predict(probe.eval(), latents[held])
        info = _probe_info(config, rule, names, targets[held], predicted)
        run.log(tc.steps, event="held-out", accuracy=info["held_out_accuracy"])
        save_file({k: v.contiguous() for k, v in probe.state_dict().items()}, str(run.folder / PROBE_WEIGHTS))
        (run.folder / PROBE_INFO).write_text(json.dumps(info))
    accuracy = info["held_out_accuracy"]
    print(f"{info['spec']['attribute']} probe: held-out accuracy {accuracy:.4f} on {len(held)} "
          f"{'labelled' if config.data else config.inputs} images")  # fmt: skip
    return run.folder


def _training_set(config: ProbeConfig) -> tuple[torch.Tensor, torch.Tensor, list[str], ToneRule | None]:
    """The tokens the probe learns from, their groups, the groups' names and (tone) the pixel rule."""
    if config.data:
        return _group_folder(config) + (None,)
    latents, _ = load_or_encode(config.rae, "train")
    data = load_images(from_dict(RAEConfig, _rae_config(config.rae), "rae config").data, "train")
    rule = ToneRule.fit(data.float(), data.labels)
    if config.inputs == "reconstructed":
        latents, images = _reconstructed(config.rae, latents)
    elif config.inputs == "real":
        images = data.float()
    else:
        raise ConfigError(f"inputs: unknown '{config.inputs}'; valid: real, reconstructed")
    names = list(ATTRIBUTES.get(config.probe.attribute, ()))
    return latents, attribute_labels(config.probe.attribute, images, data.labels, rule), names, rule


@torch.no_grad()
def _group_folder(config: ProbeConfig, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """``data``: a folder of one sub-folder per group, encoded by the RAE run's encoder."""
    from replab.fairness.sample_sets import check_shape, load_group_folder
    from replab.rae.model import load_rae

    images, groups, names = load_group_folder(config.data)
    rae, rae_config = load_rae(config.rae)
    check_shape(images, config.data, rae_config.data)
    if config.inputs != "real":
        raise ConfigError(f"inputs={config.inputs}: a labelled folder (data=) trains on its own images only")
    latents = torch.cat([rae.encode(images[i : i + batch]) for i in range(0, len(images), batch)])
    return latents, groups, names


@torch.no_grad()
def _reconstructed(rae_run: str, latents: torch.Tensor, batch: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """The RAE's reconstructions of the training images, and their tokens (what a probe reads of a decoded image)."""
    from replab.rae.model import load_rae

    rae, _ = load_rae(rae_run)
    images, tokens = [], []
    for start in range(0, len(latents), batch):
        decoded = rae.decode(latents[start : start + batch])
        images.append(decoded)
        tokens.append(rae.encode(decoded))
    return torch.cat(tokens), torch.cat(images)


def _rae_config(rae: str) -> dict:
    raw = Run.read_config(rae)
    return {k: v for k, v in raw.items() if k != "kind"}


def _probe_info(config: ProbeConfig, rule: ToneRule | None, names: list[str], true: torch.Tensor,
                predicted: torch.Tensor) -> dict:  # fmt: skip
    confusion = confusion_matrix(true.numpy(), predicted.numpy(), len(names))
    spec = asdict(config.probe)
    if config.data:  # the user's attribute: named after its folder, read by no auditor
        spec["attribute"] = Path(config.data).resolve().name
    return {
        "spec": spec, "inputs": config.inputs, "groups": names, "data": config.data,
        "fingerprint": latents_fingerprint(config.rae),
        "rae": str(Path(config.rae).resolve()), "tone_thresholds": rule.thresholds if rule else None,
        "held_out_accuracy": float((true == predicted).float().mean()), "confusion": confusion.tolist(),
        "held_out_true": true.tolist(), "held_out_predicted": predicted.tolist(),
    }  # fmt: skip


@torch.no_grad()
def posteriors(probe: AttributeProbe, latents: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """The probe's posteriors on clean latents (a noise-aware probe read at t = 0)."""
    out = []
    for i in range(0, len(latents), batch_size):
        z = latents[i : i + batch_size]
        out.append(probe(z, torch.zeros(len(z)) if probe.spec.noise_aware else None).softmax(-1))
    return torch.cat(out)


def predict(probe: AttributeProbe, latents: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    return posteriors(probe, latents, batch_size).argmax(-1)


def load_probe(folder: str | Path, rae_run: str | Path | None = None) -> tuple[AttributeProbe, dict]:
    """A trained probe and its record; with ``rae_run``, refuses a probe trained on another encoder's tokens."""
    folder = Path(folder)
    if not (folder / PROBE_INFO).is_file() or not (folder / PROBE_WEIGHTS).is_file():
        raise DataError(f"{folder}: not a probe folder (expected {PROBE_INFO} and {PROBE_WEIGHTS}, as "
                        "'replab fairness probe' writes)")  # fmt: skip
    try:
        info = json.loads((folder / PROBE_INFO).read_text())
    except ValueError as exc:
        raise DataError(f"{folder / PROBE_INFO}: not valid JSON ({exc})") from exc
    if rae_run is not None and latents_fingerprint(rae_run) != info["fingerprint"]:
        raise ConfigError(
            f"{folder}: the probe was trained on the tokens of {info['rae']} (fingerprint {info['fingerprint']}), "
            f"not on those of {rae_run} ({latents_fingerprint(rae_run)}): train a probe for this RAE"
        )
    tensors = load_file(str(folder / PROBE_WEIGHTS))
    spec = ProbeSpec(**info["spec"])
    probe = AttributeProbe(tensors["head.weight"].shape[1] if not spec.hidden else tensors["token.weight"].shape[1],
                           len(info["groups"]), spec)  # fmt: skip
    probe.load_state_dict(tensors)
    return probe.eval(), info


def held_out_pairs(info: dict) -> tuple[np.ndarray, np.ndarray]:
    return np.array(info["held_out_true"]), np.array(info["held_out_predicted"])
