"""What ``Embedder.encode`` accepts, read into one shape: an ``Item`` of text, image, audio and/or video.

The input shapes are sentence-transformers' (≥ 5.4): a string (text, or the path of a media file that
exists); a PIL image, an ``HWC`` uint8 array; audio as ``{"array", "sampling_rate"}``; video as a file or
a list of frames; a dict ``{"text": ..., "image": ...}`` for one fused input. A bad item is one line
naming its index (and its path). Audio and video files are decoded with PyAV.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from replab.errors import DataError

SAMPLE_RATE = 16_000  # Whisper features, as the Qwen2.5-Omni processor expects
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg", ".m4a", ".opus", ".aac"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})
FIELDS = ("text", "image", "audio", "video")


@dataclass
class Video:
    frames: list  # PIL images (RGB), already sampled
    from_file: bool  # True: decoded and sampled from a file; False: a list of frames given by the caller
    sampled_fps: float | None = None  # frames kept per second of the file (None: a list of frames)


@dataclass
class Item:
    """One input: the fields it has decide its kind (``text``, ``image``, ``audio``, ``video``, ``text+image``)."""

    text: str | None = None
    image: Any = None  # PIL image, RGB
    audio: np.ndarray | None = None  # mono float32 at 16 kHz
    video: Video | None = None

    @property
    def kind(self) -> str:
        return "+".join(name for name in FIELDS if getattr(self, name) is not None)


def media_kind(path: str | Path) -> str | None:
    """``image``/``audio``/``video`` for a name with a media suffix and no whitespace (a path), else None."""
    if isinstance(path, str) and any(c.isspace() for c in path):
        return None
    suffix = Path(path).suffix.lower()
    for kind, suffixes in (("image", IMAGE_SUFFIXES), ("audio", AUDIO_SUFFIXES), ("video", VIDEO_SUFFIXES)):
        if suffix in suffixes:
            return kind
    return None


def read_item(value: Any, index: int, max_frames: int = 64, fps: float = 2.0) -> Item:
    """One input of ``encode`` as an ``Item``; ``DataError`` naming ``index`` where it cannot be read."""
    from PIL import Image

    if isinstance(value, str):
        kind = media_kind(value) if len(value) < 4096 and not any(c.isspace() for c in value) else None
        if kind is None:
            return Item(text=value)
        if not Path(value).is_file():  # a mistyped path embedded as text would fail silently
            raise DataError(f"item {index}: no such file {value} (a {kind} path)")
        return Item(**{kind: _read(kind, value, index, max_frames, fps)})
    if isinstance(value, (Image.Image, np.ndarray)):
        if isinstance(value, np.ndarray) and value.ndim == 4:
            return Item(video=Video([_image(f, index) for f in value], from_file=False))
        return Item(image=_image(value, index))
    if isinstance(value, (list, tuple)):
        if not value:
            raise DataError(f"item {index}: an empty list is neither a video nor an input")
        return Item(video=Video([_image(f, index) for f in value], from_file=False))
    if isinstance(value, dict):
        if set(value) == {"array", "sampling_rate"}:
            return Item(audio=_audio_array(value, index))
        return _fused(value, index, max_frames, fps)
    raise DataError(f"item {index}: a {type(value).__name__} is not text, an image, audio or a video")


def _fused(value: dict, index: int, max_frames: int, fps: float) -> Item:
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        raise DataError(f"item {index}: unknown key '{unknown[0]}'; valid: {', '.join(FIELDS)}")
    fields = {}
    for name, part in value.items():
        if name == "text":
            if not isinstance(part, str):
                raise DataError(f"item {index}: 'text' is a {type(part).__name__}, not a string")
            fields["text"] = part
            continue
        inner = read_item(part, index, max_frames, fps)
        if getattr(inner, name) is None:
            raise DataError(f"item {index}: '{name}' holds {inner.kind or 'nothing'}, not {name}")
        fields[name] = getattr(inner, name)
    if not fields:
        raise DataError(f"item {index}: an empty dict")
    return Item(**fields)


def _read(kind: str, path: str, index: int, max_frames: int, fps: float):
    where = f"item {index} ({path})"
    if kind == "image":
        return _image_file(path, where)
    if kind == "audio":
        return _audio_file(path, where)
    frames, sampled_fps = _video_file(path, where, max_frames, fps)
    return Video(frames, from_file=True, sampled_fps=sampled_fps)


def _image(value: Any, index: int):
    from PIL import Image

    if isinstance(value, str):
        return _image_file(value, f"item {index} ({value})")
    if isinstance(value, np.ndarray):
        if value.dtype != np.uint8 or value.ndim not in (2, 3) or (value.ndim == 3 and value.shape[2] not in (1, 3, 4)):
            raise DataError(f"item {index}: an image array must be HW or HWC uint8 (C = 1, 3, 4), got "
                            f"{value.dtype} {tuple(value.shape)}")  # fmt: skip
        value = Image.fromarray(value[..., 0] if value.ndim == 3 and value.shape[2] == 1 else value)
    if not isinstance(value, Image.Image):
        raise DataError(f"item {index}: a {type(value).__name__} is not an image")
    if min(value.size) < 1:
        raise DataError(f"item {index}: an empty image {value.size}")
    return to_rgb(value)


def to_rgb(image):
    """RGB, with transparency composited on white (as the Qwen utilities do)."""
    from PIL import Image

    if image.mode == "RGBA":
        white = Image.new("RGB", image.size, (255, 255, 255))
        white.paste(image, mask=image.split()[3])
        return white
    return image.convert("RGB")


def _image_file(path: str, where: str):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            return to_rgb(image)
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"{where}: cannot read the image ({exc})") from None


def _audio_array(value: dict, index: int) -> np.ndarray:
    array, rate = np.asarray(value["array"], dtype=np.float32), value["sampling_rate"]
    if not isinstance(rate, (int, np.integer)) or rate <= 0:
        raise DataError(f"item {index}: sampling_rate must be a positive integer, got {rate!r}")
    if array.ndim == 2:  # channels × samples, or samples × channels: mixed to mono
        array = array.mean(axis=0 if array.shape[0] < array.shape[1] else 1)
    if array.ndim != 1 or array.size == 0:
        raise DataError(f"item {index}: audio must be a non-empty 1-D array, got shape {tuple(array.shape)}")
    return resample(array, int(rate))


def resample(array: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE:
        return array
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(rate, SAMPLE_RATE)
    return resample_poly(array, SAMPLE_RATE // g, rate // g).astype(np.float32)


def _audio_file(path: str, where: str) -> np.ndarray:
    av = _pyav(where)
    try:
        with av.open(path) as container:
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            chunks = [out.to_ndarray().reshape(-1) for frame in container.decode(stream)
                      for out in resampler.resample(frame)]  # fmt: skip
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    except (av.FFmpegError, IndexError, OSError) as exc:
        raise DataError(f"{where}: cannot decode the audio ({exc or 'no audio stream'})") from None
    if not chunks or sum(len(c) for c in chunks) == 0:
        raise DataError(f"{where}: the audio is empty (zero samples)")
    return np.concatenate(chunks).astype(np.float32)


def sample_indices(total: int, video_fps: float, fps: float, max_frames: int, min_frames: int = 4) -> list[int]:
    """Frames taken at ``fps`` (between ``min_frames`` and ``max_frames``, an even number), evenly spread: the
    Qwen video utilities' rule."""
    n = min(max(total / video_fps * fps, min_frames), max_frames, total)
    n = int(n // 2 * 2)
    if n < 2:
        raise DataError(f"a video needs at least 2 frames, got {total}")
    return np.round(np.linspace(0, total - 1, n)).astype(int).tolist()


def _video_file(path: str, where: str, max_frames: int, fps: float) -> tuple[list, float]:
    av = _pyav(where)
    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            frames = [frame.to_image() for frame in container.decode(stream)]
            rate = float(stream.average_rate or stream.guessed_rate or 0)
    except (av.FFmpegError, IndexError, OSError) as exc:
        raise DataError(f"{where}: cannot decode the video ({exc or 'no video stream'})") from None
    if len(frames) < 2 or rate <= 0:
        raise DataError(f"{where}: the video has {len(frames)} decodable frame(s); at least 2 are needed")
    try:
        keep = sample_indices(len(frames), rate, fps, max_frames)
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None
    return [to_rgb(frames[i]) for i in keep], len(keep) / len(frames) * rate


def _pyav(where: str):
    try:
        import av
    except ImportError:
        raise DataError(f"{where}: audio and video files need PyAV: pip install 'replab[media]'") from None
    return av
