"""Small synthetic clips written with PyAV, so io tests control codec, pixel format, size and rate."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# Frame i of an index clip has brightness INDEX_STEP * i, far enough apart to survive lossy coding.
INDEX_STEP = 8


def index_frames(num_frames: int, size: tuple[int, int] = (64, 48)) -> np.ndarray:
    """(T, H, W, 3) uint8 frames whose brightness encodes their index, with a red corner patch and fresh noise in
    the lower-left quarter (so every frame costs bits and a cut file loses frames, not just the first one)."""
    width, height = size
    rng = np.random.default_rng(num_frames)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for i in range(num_frames):
        frames[i] = INDEX_STEP * i
        frames[i, : height // 4, : width // 4] = (255, 0, 0)
        frames[i, height // 2 :, : width // 2] = rng.integers(0, 256, (height - height // 2, width // 2, 3))
    return frames


def decoded_index(image: np.ndarray) -> int:
    """Which index_frames frame an (H, W, 3) image shows, from its lower-right quarter."""
    height, width = image.shape[:2]
    return round(float(image[height // 2 :, width // 2 :].mean()) / INDEX_STEP)


def solid_frames(color: tuple[int, ...], num_frames: int, size: tuple[int, int]) -> np.ndarray:
    """(T, H, W, C) uint8 frames of one colour (C = len(color))."""
    width, height = size
    return np.broadcast_to(np.array(color, np.uint8), (num_frames, height, width, len(color))).copy()


def write_clip(
    path: Path,
    frames: np.ndarray,
    fps: float,
    *,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    input_format: str = "rgb24",
    container_format: str | None = None,
) -> Path:
    """Encode (T, H, W, C) uint8 frames given in ``input_format`` (rgb24, rgba, gray) into ``path``."""
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = pix_fmt
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image[..., 0] if input_format == "gray" else image, format=input_format)
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_audio(path: Path, seconds: float = 0.5, rate: int = 16000) -> Path:
    """A WAV file with a sine tone and no video."""
    samples = (np.sin(np.arange(int(seconds * rate)) * 0.05) * 8000).astype(np.int16)[None]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = rate
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def cut_in_half(path: Path, out: Path) -> Path:
    """Copy the first half of the bytes of ``path`` to ``out``, like an interrupted download."""
    data = path.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    return out
