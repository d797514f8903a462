"""``replab embed pretrain-vlm``: generative pre-training of the small VLM (``replab.embed.fmnist_vlm``) by
captioning Fashion-MNIST training images, LLaVA's first stage in small: the projector alone is trained, the
vision tower and the LM frozen. Next-token loss on the caption only.

Captions come from the class and what is visible: the tone of the garment (mean intensity of its pixels)
and its size (share of the frame it covers), in several phrasings. What it reaches is measured on held-out
test images: the share whose greedy caption names the right class first.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from replab import ASSETS
from replab.core.config import to_dict
from replab.core.loop import TrainLoop
from replab.core.run import Run, check_out
from replab.core.train import RESUMABLE_KEYS, TrainConfig, adamw, autocast, bf16_supported, start_training

CLASS_WORDS = ("t-shirt", "trousers", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot")
PHRASINGS = ("a {tone} {cls}", "a photo of a {cls}", "this is a {tone} {cls}", "a {size} {cls}, {tone} on black",
             "{cls}", "a picture of a {size} {tone} {cls}")  # fmt: skip
QUESTION = "\nDescribe the image."


@dataclass
class VLMTrainConfig(TrainConfig):
    steps: int = 240  # projector steps (LLaVA's stage 1; its stage 2, LoRA on the LM, is not done here)
    batch_size: int = 16
    lr: float = 1e-3
    warmup_steps: int = 20
    ckpt_every: int = 40
    log_every: int = 10


@dataclass
class VLMPretrainConfig:
    lm: str = "smollm2"  # a Llama-family causal LM folder; "smollm2" = the offline SmolLM2-135M-Instruct
    encoder: str = ""  # a local-vit folder; "" = the shipped Fashion-MNIST encoder
    projector_hidden: int = 1024
    eval_images: int = 500  # held-out test images for the caption accuracy
    train: VLMTrainConfig = field(default_factory=VLMTrainConfig)


def caption(image: torch.Tensor, label: int, rng: random.Random) -> str:
    """A varied caption of a ``[1, 28, 28]`` uint8 image from its class, tone and size."""
    pixels = image.float()[image > 20]
    mean = pixels.mean().item() if len(pixels) else 0.0
    tone = "dark" if mean < 90 else "grey" if mean < 150 else "light"
    cover = (image > 20).float().mean().item()
    size = "small" if cover < 0.35 else "large" if cover > 0.6 else "medium"
    return rng.choice(PHRASINGS).format(cls=CLASS_WORDS[label], tone=tone, size=size)


def named_class(text: str) -> int | None:
    """The first class word in ``text`` (``t-shirt`` before ``shirt``, ``ankle boot`` before ``boot``)."""
    text = text.lower()
    found = []
    for index, word in enumerate(CLASS_WORDS):
        for match in re.finditer(r"(?<![a-z-])" + re.escape(word) + r"s?(?![a-z])", text):
            found.append((match.start(), -len(word), index))
    return min(found)[2] if found else None


def prompt_ids(tokenizer, n_image: int) -> list[int]:
    from replab.embed.fmnist_vlm import IMAGE_TOKEN

    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return tokenizer(text.replace(IMAGE_TOKEN, IMAGE_TOKEN * n_image), add_special_tokens=False)["input_ids"]


def caption_batch(tokenizer, prompt: list[int], captions: list[str]) -> tuple[torch.Tensor, ...]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (-100 outside the caption)."""
    answers = [tokenizer(c + "<|im_end|>", add_special_tokens=False)["input_ids"] for c in captions]
    width = len(prompt) + max(len(a) for a in answers)
    ids = torch.full((len(answers), width), tokenizer.pad_token_id or 0, dtype=torch.long)
    labels = torch.full_like(ids, -100)
    mask = torch.zeros_like(ids)
    for i, answer in enumerate(answers):
        row = prompt + answer
        ids[i, : len(row)] = torch.tensor(row)
        labels[i, len(prompt) : len(row)] = torch.tensor(answer)
        mask[i, : len(row)] = 1
    return ids, mask, labels


@torch.inference_mode()
def caption_accuracy(model, tokenizer, images: torch.Tensor, labels: torch.Tensor, batch: int = 50,
                     new_tokens: int = 8) -> dict:  # fmt: skip
    """Greedy captions of ``images``; the share that names the right class first, and a few examples."""
    prompt = prompt_ids(tokenizer, model.model.visual.grid**2)
    right, examples = 0, []
    was_training = model.training
    model.eval()
    for start in range(0, len(images), batch):
        pixels = images[start : start + batch].float() / 255.0
        texts = tokenizer.batch_decode(greedy(model, prompt, pixels, new_tokens), skip_special_tokens=True)
        for text, label in zip(texts, labels[start : start + batch].tolist()):
            right += named_class(text) == label
            if len(examples) < 5:
                examples.append({"caption": text.strip(), "class": CLASS_WORDS[label]})
    model.train(was_training)
    return {"caption_accuracy": right / len(images), "images": len(images), "chance": 0.1, "examples": examples}


def greedy(model, prompt: list[int], pixels: torch.Tensor, new_tokens: int) -> torch.Tensor:
    """Greedy continuations ``[n, new_tokens]`` of the prompt for each image, with a key/value cache."""
    from transformers import DynamicCache

    from replab.embed.fmnist_vlm import _cache_name

    lm = model.model.language_model
    cache = DynamicCache(config=lm.config)
    ids = torch.tensor([prompt] * len(pixels))
    hidden = model.model(ids, torch.ones_like(ids), pixels, cache=cache, use_cache=True).last_hidden_state
    out = []
    for t in range(new_tokens):
        token = model.lm_head(hidden[:, -1]).argmax(-1, keepdim=True)
        out.append(token)
        position = torch.full_like(token, len(prompt) + t)
        hidden = lm(
            input_ids=token, position_ids=position, use_cache=True, **{_cache_name(lm): cache}
        ).last_hidden_state
    return torch.cat(out, dim=1)


def lm_folder(name: str) -> Path:
    if name == "smollm2":
        from replab.core.smollm2 import smollm2_folder

        return smollm2_folder()
    from replab.core.hub import resolve_model

    return Path(resolve_model(name))


def pretrain_vlm(config: VLMPretrainConfig, out: str | Path) -> Path:
    """Assemble, pre-train the projector, measure the caption accuracy; ``<out>/model`` is the VLM folder."""
    import json

    from replab.core.data import load_fmnist
    from replab.embed.fmnist_vlm import assemble, save_vlm

    tc = config.train
    check_out(out, "embed-vlm", to_dict(config), RESUMABLE_KEYS, to_dict(VLMPretrainConfig()))
    device = start_training(tc)
    train, test = load_fmnist("train"), load_fmnist("test")
    encoder = Path(config.encoder) if config.encoder else ASSETS / "encoders" / "local-vit-fmnist"
    model, tokenizer = assemble(lm_folder(config.lm), encoder, config.projector_hidden, tc.seed)
    model.requires_grad_(False)
    projector = model.model.projector.requires_grad_(True)
    optimizer = adamw(projector.parameters(), tc)
    prompt = prompt_ids(tokenizer, model.model.visual.grid**2)
    use_bf16 = tc.bf16 and bf16_supported(device)
    with Run(
        out, to_dict(config), kind="embed-vlm", mutable=RESUMABLE_KEYS, defaults=to_dict(VLMPretrainConfig())
    ) as run:
        loop = TrainLoop(run, tc, {"projector": projector}, {"projector": optimizer}, units={"captions": tc.batch_size},
                         desc="pretrain-vlm")  # fmt: skip
        model.train()
        for step in loop:
            rng = random.Random(tc.seed * 1_000_003 + step)  # the batch is a function of the step: resumable
            index = rng.sample(range(len(train.images)), tc.batch_size)
            captions = [caption(train.images[i], int(train.labels[i]), rng) for i in index]
            ids, mask, labels = caption_batch(tokenizer, prompt, captions)
            with autocast(device, use_bf16):
                loss = model(ids, mask, train.images[index].float() / 255.0, labels=labels).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(projector.parameters(), tc.grad_clip or float("inf"))
            optimizer.step()
            loop.end_step(step, loss=loss.item(), grad_norm=grad_norm)
        with run.phase("eval"):
            n = min(config.eval_images, len(test.images))
            result = caption_accuracy(model, tokenizer, test.images[:n], test.labels[:n])
            (run.folder / "caption_accuracy.json").write_text(json.dumps(result, indent=1))
        with run.phase("save"):
            save_vlm(model, tokenizer, run.folder / "model")
    return run.folder
