"""Parity of replab's omnimodal Embedder with the official LCO-Embedding recipe (the transformers processor,
``qwen_omni_utils`` / ``qwen_vl_utils``, one user message per item, ``hidden_states[-1][:, -1]``), item by item,
on tiny randomly initialised Qwen2.5-Omni thinker and Qwen2.5-VL folders, in fp32.

The official side needs the processors, which need torchvision: run it in a scratch environment where
torch and torchvision import together, with replab installed there (commands in benchmarks/RESULTS.md).

    python -m benchmarks.omni_parity --out /tmp/omni-parity
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

SUFFIX = {k: f"\nSummarize the above {k} in one word:" for k in ("text", "image", "audio", "video")}


def cases(folder: Path, family: str) -> dict[str, tuple[list, list]]:
    """name → (official messages, replab inputs) for the same items."""
    from tests.media_helpers import write_mp4, write_wav

    rng = np.random.default_rng(0)
    small = Image.fromarray(rng.integers(0, 255, (50, 70, 3), dtype=np.uint8))  # resized to 56×84 first
    large = Image.fromarray(rng.integers(0, 255, (168, 224, 3), dtype=np.uint8))  # already multiples of 28
    frames = [Image.fromarray(rng.integers(0, 255, (112, 140, 3), dtype=np.uint8)) for _ in range(4)]
    write_mp4(folder / "clip.mp4", rng, frames=25)
    wave = (0.1 * np.sin(np.arange(32000) / 16000 * 2 * np.pi * 440) + rng.normal(0, 0.01, 32000)).astype(np.float32)
    write_wav(folder / "tone.wav", wave[:16000])
    texts = ["a dog is a domestic animal", "the cat sat on the mat and summarized the above text"]

    def turn(*parts: dict) -> list:
        return [{"role": "user", "content": list(parts)}]

    def media(kind: str, value) -> list:
        return turn({"type": kind, kind: value}, {"type": "text", "text": SUFFIX[kind]})

    out = {
        "text": ([turn({"type": "text", "text": t + SUFFIX["text"]}) for t in texts], texts),
        "image 50×70": ([media("image", small)], [small]),
        "image 168×224": ([media("image", large)], [large]),
        "two images, one batch": ([media("image", small), media("image", large)], [small, large]),
        "text + image": (
            [
                turn(
                    {"type": "text", "text": texts[0]},
                    {"type": "image", "image": small},
                    {"type": "text", "text": "\nSummarize the above in one word:"},
                )
            ],
            [{"text": texts[0], "image": small}],
        ),  # fmt: skip
        "video (4 frames)": ([media("video", frames)], [frames]),
        "video (mp4 file)": ([media("video", str(folder / "clip.mp4"))], [str(folder / "clip.mp4")]),
    }
    if family == "omni":
        out["audio (array)"] = ([media("audio", wave)], [{"array": wave, "sampling_rate": 16000}])
        out["audio (wav file)"] = ([media("audio", str(folder / "tone.wav"))], [str(folder / "tone.wav")])
    return out


def official(folder: Path, family: str, messages: list) -> np.ndarray:
    import transformers
    from transformers import AutoProcessor

    config = json.loads((folder / "config.json").read_text())
    model = getattr(transformers, config["architectures"][0]).from_pretrained(folder, dtype=torch.float32).eval()
    processor = AutoProcessor.from_pretrained(folder, max_pixels=1280 * 28 * 28)
    processor.tokenizer.padding_side = "left"
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if family == "omni":
        from qwen_omni_utils import process_mm_info

        audios, images, videos = process_mm_info(messages, use_audio_in_video=False)
        inputs = processor(text=text, audio=audios, images=images, videos=videos, return_tensors="pt", padding=True)
    else:  # Qwen2.5-VL's documented usage with transformers 5: frames with their metadata
        from qwen_vl_utils import process_vision_info

        images, videos, _ = process_vision_info(messages, return_video_kwargs=True, return_video_metadata=True)
        extra = {}
        if videos:
            videos, metadata = map(list, zip(*videos))
            extra = {"video_metadata": metadata, "do_sample_frames": False}
        inputs = processor(text=text, images=images, videos=videos or None, return_tensors="pt", padding=True, **extra)
    with torch.no_grad():
        hidden = model(**inputs, output_hidden_states=True, return_dict=True).hidden_states[-1][:, -1, :]
    return torch.nn.functional.normalize(hidden.float(), dim=-1).numpy()


def main() -> None:
    from replab.embed.model import Embedder
    from replab.embed.tiny_qwen import make_tiny_qwen

    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--out", default="/tmp/omni-parity"
    )  # run from the repository root: python -m benchmarks.omni_parity
    args = parser.parse_args()
    root = Path(args.out)
    print("| model | input | items | max abs Δ |\n|---|---|---|---|")
    for family in ("omni", "vl"):
        folder = make_tiny_qwen(root / family, family)
        ours = Embedder.from_pretrained(str(folder), bf16=False)
        for name, (messages, inputs) in cases(root, family).items():
            delta = np.abs(official(folder, family, messages) - ours.encode(inputs)).max()
            label = "Qwen2.5-Omni thinker" if family == "omni" else "Qwen2.5-VL"
            print(f"| {label} | {name} | {len(inputs)} | {delta:.1e} |")


if __name__ == "__main__":
    main()
