"""The model inputs of the official LCO-Embedding recipe for Qwen2.5-VL and Qwen2.5-Omni, built without the
transformers processors (whose image and video paths need torchvision, which cannot be installed beside the
CPU torch wheel): the PIL image processor, the Whisper feature extractor and the tokenizer, with the media
placeholders expanded exactly as the processors expand them.

One user turn per item, media first, then the suffix: ``"\\nSummarize the above image in one word:"``
(audio, video alike; text + image: ``"\\nSummarize the above in one word:"``), the chat template's default
system turn, the generation prompt. Images are resized as ``qwen_omni_utils.fetch_image`` does (multiples
of 28) and then by the processor's limit (``max_pixels``, 1280·28·28 in the official evaluation); videos at
2 fps with a frame cap, their frames resized with bicubic antialiasing as ``fetch_video`` does; audio as
16 kHz Whisper features (128 bins), the video's own audio track unused (``use_audio_in_video=False``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from replab.embed.media import Item, Video
from replab.errors import ConfigError, DataError

PATCH_FACTOR = 28  # 14-pixel patches merged 2 × 2
IMAGE_MIN_PIXELS, IMAGE_FETCH_MAX_PIXELS = 4 * 28 * 28, 16384 * 28 * 28  # qwen_omni_utils.fetch_image
VIDEO_MIN_PIXELS, VIDEO_MAX_PIXELS = 128 * 28 * 28, 768 * 28 * 28
VIDEO_TOTAL_PIXELS = 128000 * 28 * 28 * 0.9
HOP = 160  # Whisper's hop length: one feature frame per 10 ms
MEDIA_FILES = ("preprocessor_config.json", "video_preprocessor_config.json", "processor_config.json",
               "chat_template.jinja", "chat_template.json")  # fmt: skip


@dataclass
class MediaPrompts:
    """The suffix after each kind of media (LCO-Embedding's wording)."""

    image: str = "\nSummarize the above image in one word:"
    audio: str = "\nSummarize the above audio in one word:"
    video: str = "\nSummarize the above video in one word:"
    fused: str = "\nSummarize the above in one word:"
    system: str = ""  # "" = the chat template's default system turn (the official recipe)


@dataclass
class MediaLimits:
    max_pixels: int = 1280 * 28 * 28  # per image (the official evaluation wrapper's processor limit)
    max_frames: int = 64  # per video, after sampling at ``fps``
    fps: float = 2.0
    max_audio_seconds: float = 300.0  # Whisper features of the Qwen2.5-Omni processor: 300 s at most


@dataclass
class MediaRow:
    """One item's token ids and the tensors its placeholders stand for."""

    ids: list[int]
    kind: str
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)


def smart_resize(height: int, width: int, factor: int, min_pixels: float, max_pixels: float) -> tuple[int, int]:
    """Qwen's rule: both sides multiples of ``factor``, the area within ``[min_pixels, max_pixels]``, the aspect
    ratio kept as closely as possible."""
    if max(height, width) / min(height, width) > 200:
        raise DataError(f"aspect ratio {max(height, width) / min(height, width):.0f} is over 200")
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


class QwenMedia:
    """Items → ``MediaRow``s for a Qwen2.5-VL (``family="vl"``) or Qwen2.5-Omni thinker (``"omni"``) folder."""

    def __init__(self, folder: str, tokenizer, config, prompts: MediaPrompts, limits: MediaLimits) -> None:
        import json

        try:
            from transformers import Qwen2VLImageProcessorPil
        except ImportError:  # transformers 4: the PIL/numpy processor under its plain name
            from transformers import Qwen2VLImageProcessor as Qwen2VLImageProcessorPil

        self.family = "omni" if "omni" in config.model_type else "vl"
        self.tokenizer, self.config, self.prompts, self.limits = tokenizer, config, prompts, limits
        self.files = {name: Path(folder, name).read_text() for name in MEDIA_FILES if Path(folder, name).is_file()}
        if "preprocessor_config.json" not in self.files:
            raise ConfigError(f"{folder}: no preprocessor_config.json (a Qwen2.5-VL / Omni folder has one)")
        pre = json.loads(self.files["preprocessor_config.json"])
        image_keys = ("do_resize", "do_rescale", "rescale_factor", "do_normalize", "image_mean", "image_std",
                      "patch_size", "temporal_patch_size", "merge_size", "min_pixels")  # fmt: skip
        self.image_processor = Qwen2VLImageProcessorPil(  # numpy and PIL only: no torchvision
            **{k: pre[k] for k in image_keys if k in pre}, max_pixels=limits.max_pixels
        )
        self.mean = np.array(self.image_processor.image_mean, dtype=np.float32).reshape(1, 3, 1, 1)
        self.std = np.array(self.image_processor.image_std, dtype=np.float32).reshape(1, 3, 1, 1)
        self.features = None
        if self.family == "omni":
            from transformers import WhisperFeatureExtractor

            keys = ("feature_size", "sampling_rate", "hop_length", "chunk_length", "n_fft", "padding_value")
            self.features = WhisperFeatureExtractor(**{k: pre[k] for k in keys if k in pre})
        self.token = self._tokens()

    def save(self, folder: Path) -> None:
        """The processor files beside a saved model, as they came."""
        for name, text in self.files.items():
            (folder / name).write_text(text)

    @property
    def modalities(self) -> tuple[str, ...]:
        return ("text", "image", "video", "audio") if self.family == "omni" else ("text", "image", "video")

    def _tokens(self) -> dict[str, str]:
        c = self.config
        ids = {"image": c.image_token_id, "video": c.video_token_id}
        if self.family == "omni":
            ids["audio"] = c.audio_token_id
        return {kind: self.tokenizer.convert_ids_to_tokens(int(i)) for kind, i in ids.items()}

    # ---- one item ----------------------------------------------------------------------------------
    def messages(self, item: Item, text: str | None) -> list[dict]:
        parts: list[dict] = []
        if text is not None:
            parts.append({"type": "text", "text": text})
        for kind in ("image", "audio", "video"):
            if getattr(item, kind) is not None:
                parts.append({"type": kind, kind: None})
        suffix = self.prompts.fused if text is not None else getattr(self.prompts, item.kind)
        parts.append({"type": "text", "text": suffix})
        system = [{"role": "system", "content": self.prompts.system}] if self.prompts.system else []
        return [*system, {"role": "user", "content": parts}]

    def row(self, item: Item, text: str | None = None) -> MediaRow:
        """``text``: the item's text (its prompt prepended and cut to the text limit by the caller)."""
        for kind in ("audio", "video"):
            if getattr(item, kind) is not None and kind not in self.modalities:
                raise DataError(f"a {kind} input, but this model embeds only {', '.join(self.modalities)}")
        rendered = self.tokenizer.apply_chat_template(self.messages(item, text), tokenize=False,
                                                      add_generation_prompt=True)  # fmt: skip
        tensors: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        if item.image is not None:
            tensors.update(self.image(item.image))
            counts["image"] = self.image_tokens(tensors)
        if item.video is not None:
            tensors.update(self.video(item.video))
            counts["video"] = int(tensors["video_grid_thw"].prod()) // 4
        if item.audio is not None:
            tensors.update(self.audio(item.audio))
            counts["audio"] = int(_audio_tokens(tensors["feature_attention_mask"].sum()))
        for kind, n in counts.items():
            if rendered.count(self.token[kind]) != 1:
                raise ConfigError(f"the chat template does not place one {self.token[kind]} for an {kind}")
            rendered = rendered.replace(self.token[kind], self.token[kind] * n)
        ids = self.tokenizer(rendered, add_special_tokens=False)["input_ids"]
        return MediaRow(ids, item.kind, tensors)

    # ---- media → tensors ---------------------------------------------------------------------------
    def image_tokens(self, tensors: dict[str, torch.Tensor]) -> int:
        return int(tensors["image_grid_thw"].prod()) // 4  # 14-pixel patches merged 2 × 2

    def image(self, image) -> dict[str, torch.Tensor]:
        width, height = image.size
        h, w = smart_resize(height, width, PATCH_FACTOR, IMAGE_MIN_PIXELS, IMAGE_FETCH_MAX_PIXELS)
        image = image.resize((w, h))  # PIL's default filter (bicubic), as fetch_image
        out = self.image_processor(images=[image], return_tensors="pt")
        return {"pixel_values": out["pixel_values"], "image_grid_thw": out["image_grid_thw"][0]}

    def video(self, video: Video) -> dict[str, torch.Tensor]:
        frames = video.frames
        if not video.from_file:
            # a list of frames: each resized as an image first, to multiples of 56 (qwen_omni_utils passes the
            # 28-pixel factor where the patch size is expected, and doubles it), the count made even
            factor = 2 * PATCH_FACTOR
            frames = [f.resize(smart_resize(f.size[1], f.size[0], factor, IMAGE_MIN_PIXELS * 4,
                                            IMAGE_FETCH_MAX_PIXELS * 4)[::-1]) for f in frames]  # fmt: skip
            frames = frames[: self.limits.max_frames]
            frames += frames[-1:] * (len(frames) % 2)
        clip = torch.from_numpy(np.stack([np.asarray(f, dtype=np.uint8) for f in frames])).permute(0, 3, 1, 2)
        n, _, height, width = clip.shape
        max_pixels = max(min(VIDEO_MAX_PIXELS, VIDEO_TOTAL_PIXELS / n * 2), int(VIDEO_MIN_PIXELS * 1.05))
        size = smart_resize(height, width, PATCH_FACTOR, VIDEO_MIN_PIXELS, max_pixels)
        clip = _bicubic(clip, size).float()
        size = smart_resize(*size, PATCH_FACTOR, VIDEO_MIN_PIXELS, self.limits.max_pixels)  # the processor's limit
        if tuple(clip.shape[-2:]) != size:
            clip = _bicubic(clip, size)
        values = (clip.numpy() / 255.0 - self.mean) / self.std if self.image_processor.do_normalize else clip.numpy()
        patches, grid = _patchify_video(torch.from_numpy(values.astype(np.float32)))
        # seconds per temporal patch: the Omni processor assumes the target fps; Qwen2.5-VL's takes the rate
        # the frames were actually sampled at (a list of frames: the target fps)
        fps = video.sampled_fps if self.family == "vl" and video.sampled_fps else self.limits.fps
        return {"pixel_values_videos": patches, "video_grid_thw": grid,
                "video_second_per_grid": torch.tensor(2 / fps, dtype=torch.float32)}  # fmt: skip

    def audio(self, wave: np.ndarray) -> dict[str, torch.Tensor]:
        limit = int(self.limits.max_audio_seconds * self.features.sampling_rate)
        wave = wave[:limit]
        # Whisper features of the clip padded to a few frames past its end, not to 300 s: the same values
        # for the clip's own frames (the padding is zeros either way), without the 300-s STFT
        valid = math.ceil(len(wave) / HOP)
        padded = np.pad(wave, (0, (valid + 4) * HOP - len(wave)))
        feats = self.features(padded, sampling_rate=self.features.sampling_rate, padding="do_not_pad",
                              return_attention_mask=False, return_tensors="np")["input_features"][0]  # fmt: skip
        return {"input_features": torch.from_numpy(feats[:, :valid].copy()),
                "feature_attention_mask": torch.ones(valid, dtype=torch.long)}  # fmt: skip


def _audio_tokens(frames) -> int:
    frames = (int(frames) - 1) // 2 + 1
    return (frames - 2) // 2 + 1


def _bicubic(clip: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic resize with antialiasing as torchvision's ``resize`` does it: uint8 frames in float, then
    rounded and clamped back (torch's own uint8 kernel differs by up to 13 levels)."""
    out = torch.nn.functional.interpolate(clip.float(), size=size, mode="bicubic", align_corners=False, antialias=True)
    return out.round().clamp(0, 255).to(torch.uint8) if clip.dtype == torch.uint8 else out


def _patchify_video(clip: torch.Tensor, patch: int = 14, merge: int = 2, temporal: int = 2):
    """``[T, C, H, W]`` → ``([t·h·w, C·temporal·patch²], (t, h, w))`` in the Qwen2-VL video processor's order."""
    if pad := -clip.shape[0] % temporal:
        clip = torch.cat([clip, clip[-1:].expand(pad, -1, -1, -1)])
    frames, channels, height, width = clip.shape
    gt, gh, gw = frames // temporal, height // patch, width // patch
    x = clip.view(gt, temporal, channels, gh // merge, merge, patch, gw // merge, merge, patch)
    x = x.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return x.reshape(gt * gh * gw, channels * temporal * patch * patch), torch.tensor([gt, gh, gw])


def batch_inputs(rows: list[MediaRow], pad_id: int, config, device: torch.device) -> dict[str, torch.Tensor]:
    """The keyword arguments of the VL / Omni base model for ``rows``: ids left-padded (the last real token
    at the last position), each medium's tensors concatenated in row order."""
    family = "omni" if "omni" in config.model_type else "vl" if "qwen" in config.model_type else "plain"
    image_id, video_id = config.image_token_id, getattr(config, "video_token_id", None)
    width = max(len(r.ids) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row.ids) :] = torch.tensor(row.ids)
        mask[i, width - len(row.ids) :] = 1
    out = {"input_ids": ids, "attention_mask": mask}
    have = lambda key: [r.tensors[key] for r in rows if key in r.tensors]  # noqa: E731
    if have("pixel_values"):
        out["pixel_values"] = torch.cat(have("pixel_values"))
    if have("image_grid_thw"):
        out["image_grid_thw"] = torch.stack(have("image_grid_thw"))
    if have("pixel_values_videos"):
        out["pixel_values_videos"] = torch.cat(have("pixel_values_videos"))
        out["video_grid_thw"] = torch.stack(have("video_grid_thw"))
        seconds = torch.stack(have("video_second_per_grid"))
        out["video_second_per_grid" if family == "omni" else "second_per_grid_ts"] = seconds
    if have("input_features"):
        feats = have("input_features")
        frames = max(f.shape[-1] for f in feats)
        out["input_features"] = torch.stack([torch.nn.functional.pad(f, (0, frames - f.shape[-1])) for f in feats])
        out["feature_attention_mask"] = torch.stack([torch.nn.functional.pad(m, (0, frames - len(m)))
                                                     for m in have("feature_attention_mask")])  # fmt: skip
    if family == "vl":  # which tokens are image (1) and video (2) placeholders
        types = torch.zeros_like(ids, dtype=torch.int)
        types[ids == image_id] = 1
        types[ids == video_id] = 2
        out["mm_token_type_ids"] = types
    return {k: v.to(device) for k, v in out.items()}


def rope_positions(base: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """``[3, B, W]`` multimodal rotary positions of a left-padded batch, as the model itself computes them
    (``[B, W]`` for a model with plain positions)."""
    get = inputs.get
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    if "qwen" not in base.config.model_type:  # one-dimensional positions, counted from each row's first token
        return (mask.long().cumsum(-1) - 1).clamp(min=0)
    grids = (get("image_grid_thw"), get("video_grid_thw"))
    if "omni" in base.config.model_type:
        lengths = get("feature_attention_mask").sum(-1) if "feature_attention_mask" in inputs else None
        positions, _ = base.get_rope_index(ids, *grids, mask, False, lengths, get("video_second_per_grid"))
    else:
        positions, _ = base.get_rope_index(ids, inputs["mm_token_type_ids"], *grids, get("second_per_grid_ts"), mask)
    return positions


def drop_prefix(inputs: dict[str, torch.Tensor], positions: torch.Tensor, shared: int) -> torch.Tensor:
    """Remove the first ``shared`` real tokens of every row (left padding stays left) from the token-shaped
    inputs, in place; the positions of what remains (``[3, B, W]`` multimodal rotary ones, or ``[B, W]``)."""
    mask = inputs["attention_mask"]
    rows, width = mask.shape
    start = (width - mask.sum(1)).unsqueeze(1)
    column = torch.arange(width, device=mask.device).unsqueeze(0)
    keep = ~((column >= start) & (column < start + shared))
    for key in ("input_ids", "attention_mask", "mm_token_type_ids"):
        if key in inputs:
            inputs[key] = inputs[key][keep].view(rows, width - shared)
    if positions.ndim == 2:
        return positions[keep].view(rows, width - shared)
    return positions[:, keep].view(3, rows, width - shared)


def shared_prefix(rows: list[MediaRow], media_ids: set[int]) -> int:
    """How many leading tokens every row shares before its first media placeholder (the chat prefix)."""
    first = rows[0].ids
    limit = min(len(r.ids) for r in rows) - 1
    n = 0
    while n < limit and first[n] not in media_ids and all(r.ids[n] == first[n] for r in rows):
        n += 1
    return n
