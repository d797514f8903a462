"""Images per second: replab's ``Embedder.encode`` against the official LCO-Embedding loop (its batch of 8,
``qwen_omni_utils.process_mm_info`` and the processor per batch, ``hidden_states[-1][:, -1]``) on the same
tiny-but-not-trivial Qwen2.5-Omni thinker, side by side in one process.

The official loop needs the transformers processors, which need torchvision: run this in a scratch
environment where torch and torchvision import together (see benchmarks/RESULTS.md), with replab installed
there too (``pip install -e . --no-deps``). Not part of the test suite.

    python benchmarks/omni_encode_speed.py [--images 64] [--size 224] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from PIL import Image


def official_images(model, processor, images: list, batch_size: int = 8) -> torch.Tensor:
    from qwen_omni_utils import process_mm_info

    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            suffix = {"type": "text", "text": "\nSummarize the above image in one word:"}
            messages = [[{"role": "user", "content": [{"type": "image", "image": image}, suffix]}]
                        for image in images[i : i + batch_size]]  # fmt: skip
            text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            audios, imgs, videos = process_mm_info(messages, use_audio_in_video=True)
            inputs = processor(text=text, audio=audios, images=imgs, videos=videos, return_tensors="pt", padding=True)
            out.append(model(**inputs, output_hidden_states=True, return_dict=True).hidden_states[-1][:, -1, :])
    return torch.nn.functional.normalize(torch.cat(out).float(), dim=-1)


def main() -> None:
    import transformers
    from transformers import AutoProcessor

    from replab.embed.model import Embedder
    from replab.embed.tiny_qwen import make_tiny_qwen

    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--depth", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    folder = make_tiny_qwen(
        tempfile.mkdtemp(), "omni", width=args.width, depth=args.depth, vision_width=args.width // 2
    )
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (args.size, args.size, 3), dtype=np.uint8))
              for _ in range(args.images)]  # fmt: skip
    official = transformers.Qwen2_5OmniThinkerForConditionalGeneration.from_pretrained(folder).eval()
    processor = AutoProcessor.from_pretrained(folder, max_pixels=1280 * 28 * 28)
    processor.tokenizer.padding_side = "left"
    ours = Embedder.from_pretrained(str(folder), bf16=False)
    timings = {"official": [], "replab": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        a = official_images(official, processor, images)
        timings["official"].append(time.perf_counter() - start)
        start = time.perf_counter()
        b = torch.from_numpy(ours.encode(images, batch_size=8))
        timings["replab"].append(time.perf_counter() - start)
    best = {k: min(v) for k, v in timings.items()}
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    print(f"CPU: {cpu}, {torch.get_num_threads()} threads; model: Omni thinker width {args.width}, "
          f"{args.depth} layers; {args.images} images {args.size}×{args.size}")  # fmt: skip
    row = ours.rows(images[:1])[0]
    config = ours.full.config
    from replab.embed.qwen_media import shared_prefix

    print(f"tokens per image row: {len(row.ids)} ({row.ids.count(config.image_token_id)} image placeholders, "
          f"{shared_prefix([row, row], {config.image_token_id})} in the shared chat prefix)")  # fmt: skip
    print(f"max |Δ| replab vs official: {(a - b).abs().max().item():.2e}")
    for name, seconds in best.items():
        print(f"{name:9s} {args.images / seconds:7.1f} images/s  (best of {args.repeats}: {seconds:.2f} s)")
    print(f"ratio replab/official: {best['official'] / best['replab']:.2f}×")


if __name__ == "__main__":
    main()
