"""Tiny randomly initialised Qwen2.5-VL and Qwen2.5-Omni-thinker folders, in the released layout (config,
tokenizer with the media placeholder tokens and a Qwen-shaped chat template, preprocessor config), built
offline: the hub-loading code of the omnimodal ``Embedder`` is tested and benchmarked on them.

    make_tiny_qwen("runs/tiny-omni", family="omni")        # then Embedder.from_pretrained("runs/tiny-omni")

The chat templates are replab's own, shaped like the released ones: a default system turn, media
placeholders wrapped in their begin/end tokens, the generation prompt.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

FAMILIES = ("vl", "omni")

_COMMON = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
SPECIALS = {
    "vl": {"vision_start": "<|vision_start|>", "vision_end": "<|vision_end|>", "image": "<|image_pad|>",
           "video": "<|video_pad|>"},
    "omni": {"vision_bos": "<|vision_bos|>", "vision_eos": "<|vision_eos|>", "image": "<|IMAGE|>",
             "video": "<|VIDEO|>", "audio": "<|AUDIO|>", "audio_bos": "<|audio_bos|>", "audio_eos": "<|audio_eos|>"},
}  # fmt: skip
SYSTEM = {
    "vl": "You are a helpful assistant.",
    "omni": "You are a small test model that perceives images, audio and video and answers in text.",
}
_CORPUS = [
    "summarize the above text in one word", "summarize the above image in one word", "summarize the above",
    "summarize the above audio in one word", "summarize the above video in one word", "a dog is a domestic animal",
    "the cat sat on the mat", "a sneaker, a boot and a sandal", "an ankle boot", "a pullover and a dress",
    "system user assistant", "you are a helpful assistant", "a red square on a white background",
]  # fmt: skip


def chat_template(family: str) -> str:
    s = SPECIALS[family]
    begin, end = (s["vision_start"], s["vision_end"]) if family == "vl" else (s["vision_bos"], s["vision_eos"])
    media = (
        "{% if part['type'] == 'image' or 'image' in part %}" + begin + s["image"] + end
        + "{% elif part['type'] == 'video' or 'video' in part %}" + begin + s["video"] + end
    )  # fmt: skip
    if "audio" in s:
        media += "{% elif part['type'] == 'audio' or 'audio' in part %}" + s["audio_bos"] + s["audio"] + s["audio_eos"]
    return (
        "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
        + SYSTEM[family] + "<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
        "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
        + media + "{% elif 'text' in part %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )  # fmt: skip


def tiny_qwen_tokenizer(family: str, vocab: int = 400):
    """A byte-level BPE tokenizer with Qwen's chat and media tokens as special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = _COMMON + list(SPECIALS[family].values())
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    tok.train_from_iterator(_CORPUS * 4, trainer)
    named = {f"{key}_token": value for key, value in SPECIALS[family].items()}
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   extra_special_tokens=named)  # fmt: skip
    fast.chat_template = chat_template(family)
    return fast


def _ids(tokenizer, family: str) -> dict[str, int]:
    return {key: tokenizer.convert_tokens_to_ids(tok) for key, tok in SPECIALS[family].items()}


def _text_config(tokenizer, width: int, depth: int) -> dict:
    return {"vocab_size": len(tokenizer), "hidden_size": width, "intermediate_size": 2 * width,
            "num_hidden_layers": depth, "num_attention_heads": 4, "num_key_value_heads": 2,
            "max_position_embeddings": 4096, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0,
                                                                 "mrope_section": _mrope_section(width // 4)},
            "tie_word_embeddings": False, **_special_ids(tokenizer)}  # fmt: skip


def _mrope_section(head_dim: int) -> list[int]:
    """Rotary frequencies split over time, height and width (Qwen2.5: 16/24/24 of 64)."""
    half = head_dim // 2
    return [half - 2 * (3 * half // 8), 3 * half // 8, 3 * half // 8]


def _special_ids(tokenizer) -> dict[str, int]:
    return {"pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id}  # fmt: skip


def _vision_config(width: int, out: int) -> dict:
    return {"depth": 2, "hidden_size": width, "intermediate_size": 2 * width, "num_heads": 2, "out_hidden_size": out,
            "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 56,
            "fullatt_block_indexes": [1]}  # fmt: skip


def build_tiny_model(family: str, tokenizer, width: int = 64, depth: int = 2, vision_width: int = 32):
    """A randomly initialised ``Qwen2_5_VLForConditionalGeneration`` or Qwen2.5-Omni thinker."""
    ids = _ids(tokenizer, family)
    text = _text_config(tokenizer, width, depth)
    vision = _vision_config(vision_width, width)
    if family == "vl":
        from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

        config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, image_token_id=ids["image"],
                                  video_token_id=ids["video"], vision_start_token_id=ids["vision_start"],
                                  vision_end_token_id=ids["vision_end"], **_special_ids(tokenizer))  # fmt: skip
        return Qwen2_5_VLForConditionalGeneration(config)
    from transformers import Qwen2_5OmniThinkerConfig, Qwen2_5OmniThinkerForConditionalGeneration

    audio = {"num_mel_bins": 128, "encoder_layers": 2, "encoder_attention_heads": 2, "encoder_ffn_dim": 64,
             "d_model": 32, "output_dim": width, "max_source_positions": 1500, "n_window": 100}  # fmt: skip
    config = Qwen2_5OmniThinkerConfig(audio_config=audio, vision_config=vision, text_config=text,
                                      image_token_index=ids["image"], video_token_index=ids["video"],
                                      audio_token_index=ids["audio"], audio_start_token_id=ids["audio_bos"],
                                      audio_end_token_id=ids["audio_eos"], **_special_ids(tokenizer))  # fmt: skip
    config.vision_start_token_id = ids["vision_bos"]
    config.vision_end_token_id = ids["vision_eos"]
    return Qwen2_5OmniThinkerForConditionalGeneration(config)


def preprocessor_config(family: str) -> dict:
    """The image (and audio) preprocessing the released folders declare: Qwen's 14-pixel patches merged 2×2,
    CLIP's mean/std; Whisper's 128-bin log-mel features at 16 kHz for Omni."""
    config = {"image_processor_type": "Qwen2VLImageProcessor", "do_resize": True, "do_rescale": True,
              "rescale_factor": 1 / 255, "do_normalize": True, "do_convert_rgb": True,
              "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
              "min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14, "temporal_patch_size": 2,
              "merge_size": 2, "resample": 3}  # fmt: skip
    if family == "omni":
        config.update({"feature_extractor_type": "WhisperFeatureExtractor", "feature_size": 128,
                       "sampling_rate": 16000, "hop_length": 160, "chunk_length": 300, "n_fft": 400,
                       "n_samples": 4800000, "nb_max_frames": 30000, "padding_side": "right", "padding_value": 0.0,
                       "return_attention_mask": True, "processor_class": "Qwen2_5OmniProcessor"})  # fmt: skip
    else:
        config["processor_class"] = "Qwen2_5_VLProcessor"
    return config


def make_tiny_qwen(
    folder: str | Path, family: str = "omni", width: int = 64, depth: int = 2, seed: int = 0, vision_width: int = 32
) -> Path:
    """Write a tiny ``family`` ("vl" or "omni") model folder shaped like the released checkpoints."""
    if family not in FAMILIES:
        raise ValueError(f"family: unknown '{family}'; valid: {', '.join(FAMILIES)}")
    torch.manual_seed(seed)
    folder = Path(folder)
    tokenizer = tiny_qwen_tokenizer(family)
    model = build_tiny_model(family, tokenizer, width, depth, vision_width).eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "chat_template.jinja").write_text(tokenizer.chat_template)
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor_config(family), indent=1))
    video = {**preprocessor_config("vl"), "video_processor_type": "Qwen2VLVideoProcessor",
             "min_pixels": 128 * 28 * 28, "max_pixels": 768 * 28 * 28}  # fmt: skip
    video.pop("image_processor_type")
    (folder / "video_preprocessor_config.json").write_text(json.dumps(video, indent=1))
    return folder
