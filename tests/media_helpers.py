"""Small media files written by the tests and benchmarks themselves: a WAV (the standard library) and an
MP4 (PyAV, H.264) with a moving bar."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_wav(path: Path, wave: np.ndarray, rate: int = 16000) -> None:
    import wave as wavmod

    with wavmod.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(wave, -1, 1) * 32767).astype("<i2").tobytes())


def write_mp4(path: Path, rng, frames: int = 12) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=6)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for t in range(frames):
            frame = rng.integers(0, 40, (48, 64, 3), dtype=np.uint8)
            frame[:, (t * 5) % 64 :] += 150
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
