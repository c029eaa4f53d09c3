"""Clip files for training: lossless writing, header probing and random-access reading of a frame window.

Training pairs are stored as FFV1 (lossless, intra-only) RGB in Matroska: decoding gives back exactly the frames
that were written, so an edited clip stays exactly ``edit(source)`` and every frame is a keyframe to seek to.
About 1.1 MB for 33 frames of 384x224 (H.264 at crf 8 would be 4x smaller but off by up to ~18 levels).

Clips can also be ``.npy`` arrays (T, H, W, 3) uint8, stored at the rate they are read at: 8.5 MB for the same
33 frames, but read by memory mapping and needing no PyAV (a training machine without it).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sana_streaming.io.frames import VideoError, check_fps
from sana_streaming.io.transform import timestamp_tolerance

if TYPE_CHECKING:  # PyAV is imported where a container file is opened: clip arrays need none of it
    import av

LOSSLESS_SUFFIX = ".mkv"
ARRAY_SUFFIX = ".npy"
CLIP_SUFFIXES = {"mkv": LOSSLESS_SUFFIX, "npy": ARRAY_SUFFIX}
# bgr0 is the packed RGB layout FFV1 codes losslessly; rgb24 frames convert to it without rounding.
_FFV1_PIX_FMT = "bgr0"


@dataclass(frozen=True)
class VideoInfo:
    """What a clip's header says. ``num_frames`` is exact when counted, else estimated from the duration."""

    width: int
    height: int
    fps: float | None
    num_frames: int | None


def write_clip(path: str | os.PathLike, frames: np.ndarray, fps: float) -> Path:
    """Write (T, H, W, 3) uint8 RGB frames losslessly: FFV1 for ``.mkv``, a plain array for ``.npy``."""
    path = Path(path)
    if path.suffix.lower() != ARRAY_SUFFIX:
        return write_lossless(path, frames, fps)
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
        raise VideoError(f"{path}: frames must be (T, H, W, 3) uint8, got {getattr(frames, 'shape', frames)!r}")
    check_fps(fps, str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, np.ascontiguousarray(frames), allow_pickle=False)
    except OSError as err:
        raise VideoError(f"cannot write {path} ({err})") from None
    return path


def _read_array(path: str | os.PathLike) -> np.ndarray:
    path = Path(path)
    if not path.exists():
        raise VideoError(f"video not found: {path}")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as err:
        raise VideoError(f"not a clip array: {path} ({err})") from None
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[3] != 3:
        raise VideoError(f"{path}: a clip array must be (T, H, W, 3) uint8, got {array.dtype} {array.shape}")
    return array


def _is_array(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() == ARRAY_SUFFIX


def write_lossless(path: str | os.PathLike, frames: np.ndarray, fps: float) -> Path:
    """Write (T, H, W, 3) uint8 RGB frames (any H, W) as a lossless FFV1 .mkv; folders are created.

    Returns:
        The path written.
    """
    path = Path(path)
    if path.suffix.lower() != LOSSLESS_SUFFIX:
        raise VideoError(f"lossless clips are written as {LOSSLESS_SUFFIX}, got {path}")
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
        raise VideoError(f"{path}: frames must be (T, H, W, 3) uint8, got {getattr(frames, 'shape', frames)!r}")
    fps = check_fps(fps, str(path))
    import av

    from sana_streaming.io.decode import reason
    from sana_streaming.io.encode import rate_fraction

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with av.open(os.fspath(path), "w", format="matroska") as container:
            stream = container.add_stream("ffv1", rate=rate_fraction(fps))
            stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], _FFV1_PIX_FMT
            for index, image in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
                frame.pts = index
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
    except (av.FFmpegError, OSError) as err:
        raise VideoError(f"cannot write {path} ({reason(err)})") from None
    return path


def probe(path: str | os.PathLike, *, count: bool = False) -> VideoInfo:
    """Read a video's size, rate and frame count without decoding pictures.

    Args:
        count: count the packets (exact, cheap for short clips); else trust the header or the duration.
    """
    if _is_array(path):
        frames, height, width, _ = _read_array(path).shape
        return VideoInfo(width, height, None, frames)
    from sana_streaming.io.decode import duration_s, nominal_fps, video_stream

    with _open(path) as container:
        stream = video_stream(container, str(path))
        width, height = stream.codec_context.width, stream.codec_context.height
        fps = nominal_fps(stream)
        if count:
            num_frames = sum(1 for packet in container.demux(stream) if packet.size)
        elif stream.frames > 0:
            num_frames = stream.frames
        else:
            duration = duration_s(container, stream)
            num_frames = round(duration * fps) if duration and fps else None
    return VideoInfo(width, height, fps, num_frames)


def count_at_rate(path: str | os.PathLike, fps: float) -> int | None:
    """How many frames a video gives when resampled to ``fps`` (from its duration), or None if unknown; a clip
    array's length (it is stored at the rate it is read at)."""
    if _is_array(path):
        return len(_read_array(path))
    from sana_streaming.io.decode import duration_s, video_stream

    with _open(path) as container:
        stream = video_stream(container, str(path))
        duration = duration_s(container, stream)
        tolerance = timestamp_tolerance(stream.time_base, fps)
    return math.ceil((duration - tolerance) * fps) if duration else None


def read_window(path: str | os.PathLike, start: int, num_frames: int, fps: float) -> np.ndarray:
    """Frames ``start .. start + num_frames - 1`` of the video resampled to the constant rate ``fps``.

    Output frame k shows the latest decoded frame whose time (from the first frame) is at most k / fps, like
    :class:`sana_streaming.io.FrameRateResampler`; for a clip stored at ``fps`` that is exactly its frame k.
    Seeks to the keyframe before ``start`` instead of decoding from the beginning.

    Returns:
        (num_frames, H, W, 3) uint8 RGB.

    Raises:
        VideoError: if the video ends before the window does.
    """
    first_time = start / fps
    if _is_array(path):
        array = _read_array(path)
        if start + num_frames > len(array):
            raise VideoError(f"{path} ends before frame {len(array)}; needed frames {start}..{start + num_frames - 1}")
        return np.array(array[start : start + num_frames])
    frames = _decode_window(path, start, num_frames, fps, seek=start > 0)
    if frames is None:  # the seek landed after the window (no usable index): decode from the beginning
        frames = _decode_window(path, start, num_frames, fps, seek=False)
    if frames is None or len(frames) < num_frames:
        got = 0 if frames is None else len(frames)
        raise VideoError(
            f"{path} ends before frame {start + got} at {fps:g} fps; needed frames {start}..{start + num_frames - 1} "
            f"(from {first_time:.2f} s)"
        )
    return np.stack(frames)


def _decode_window(path, start: int, num_frames: int, fps: float, *, seek: bool) -> list[np.ndarray] | None:
    """The window's frames (fewer if the video ends first), or None if a seek overshot the window's start."""
    from sana_streaming.io.decode import nominal_fps, video_stream

    with _open(path) as container:
        stream = video_stream(container, str(path))
        stream.thread_type = "AUTO"
        window = _Window(start, num_frames, fps, timestamp_tolerance(stream.time_base, fps))
        origin = stream.start_time or 0
        if seek:
            container.seek(origin + int(start / fps / stream.time_base), stream=stream, backward=True)
        end_time = None
        for frame in container.decode(stream):
            if frame.pts is None:
                raise VideoError(f"{path} has frames without timestamps; remux it (e.g. to .mkv) to read a window")
            time = float((frame.pts - origin) * stream.time_base)
            if seek and window.held is None and time > window.time(0) + window.tolerance:
                return None
            window.push(frame, time)
            if window.full:
                return window.frames
            period = float(frame.duration * frame.time_base) if frame.duration else 1.0 / (nominal_fps(stream) or fps)
            end_time = time + period
        if end_time is not None:
            window.push(None, end_time)
    return window.frames


class _Window:
    """Output frames ``start ..`` of a constant-rate resampling, built from decoded frames in time order: output k
    shows the latest frame whose time is at most that of output k."""

    def __init__(self, start: int, num_frames: int, fps: float, tolerance: float) -> None:
        self.start, self.num_frames, self.fps, self.tolerance = start, num_frames, fps, tolerance
        self.frames: list[np.ndarray] = []
        self.held: av.VideoFrame | None = None
        self._held_image: np.ndarray | None = None

    @property
    def full(self) -> bool:
        return len(self.frames) == self.num_frames

    def time(self, k: int) -> float:
        """Time of output ``start + k`` in seconds."""
        return (self.start + k) / self.fps

    def push(self, frame: av.VideoFrame | None, time: float) -> None:
        """A frame shown from ``time`` on (None: the video ends at ``time``): outputs before it show the held one."""
        while self.held is not None and not self.full and self.time(len(self.frames)) < time - self.tolerance:
            if self._held_image is None:  # converted only when shown, once however often it repeats
                self._held_image = self.held.to_ndarray(format="rgb24")
            self.frames.append(self._held_image)
        self.held, self._held_image = frame, None


def _open(path: str | os.PathLike) -> av.container.InputContainer:
    import av

    from sana_streaming.io.decode import reason

    path = Path(path)
    if not path.exists():
        raise VideoError(f"video not found: {path}")
    try:
        return av.open(os.fspath(path))
    except (av.FFmpegError, OSError) as err:
        raise VideoError(f"not a video file: {path} ({reason(err)})") from None
