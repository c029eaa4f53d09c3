"""The two interfaces of the io layer: a source is an iterable of frames, a sink consumes them."""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType

import numpy as np
import torch

from sana_streaming.io.frames import VideoError, VideoFrame, check_fps, to_uint8_rgb


class VideoSource:
    """An iterable of :class:`VideoFrame`, read once, usable as a context manager; ``close()`` is idempotent.

    Attributes:
        name: what error messages call this source (a path, a URL with its password hidden, a device).
        fps: nominal frame rate if known.
        size: (width, height) if known.
        num_frames: frame count if known (files; estimated from the duration when the container has no count),
            None for live or unknown sources.
        live: True for webcams, live network streams and push sources.
        error: set when decoding stopped early on a corrupt or truncated input; iteration then ends normally
            after the last good frame and the caller reports ``error`` at the end.
    """

    name: str = "video source"
    fps: float | None = None
    size: tuple[int, int] | None = None
    num_frames: int | None = None
    live: bool = False
    error: str | None = None
    # Push sources may legitimately end empty; decoders that produce nothing mean the input is unusable.
    _require_frames: bool = True
    _started: bool = False

    def __iter__(self) -> Iterator[VideoFrame]:
        if self._started:
            raise VideoError(f"{self.name} can be read only once; open it again to read it again")
        self._started = True
        return self._checked_frames()

    def _checked_frames(self) -> Iterator[VideoFrame]:
        num_yielded = 0
        for frame in self._frames():
            num_yielded += 1
            yield frame
        if num_yielded == 0 and self._require_frames:
            detail = f" ({self.error.removeprefix(f'{self.name}: ')})" if self.error else ""
            raise VideoError(f"{self.name} has no decodable video frames{detail}")

    def _frames(self) -> Iterator[VideoFrame]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the input. Safe to call more than once."""

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, fps={self.fps}, size={self.size}, live={self.live})"


class VideoSink:
    """Consumes frames; a context manager whose ``close()`` finalises the output and is idempotent.

    Attributes:
        name: what error messages call this sink.
        fps: frame rate used to time raw arrays passed to ``write`` (None: only VideoFrames are accepted).
        frames_written: frames accepted so far.
    """

    def __init__(self, name: str, fps: float | None) -> None:
        self.name = name
        self.fps = None if fps is None else check_fps(fps, name)
        self.frames_written = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, frame: VideoFrame | np.ndarray | torch.Tensor) -> None:
        """Write one frame, or a clip of frames.

        Args:
            frame: a VideoFrame, or anything :func:`to_uint8_rgb` accepts (one frame or (T, ...) frames); raw
                arrays get index ``frames_written`` and time ``index / fps``.
        """
        if self._closed:
            raise VideoError(f"cannot write to {self.name}: the sink is closed")
        for video_frame in self._as_frames(frame):
            self._write_frame(video_frame)
            self.frames_written += 1

    def _as_frames(self, frame: VideoFrame | np.ndarray | torch.Tensor) -> list[VideoFrame]:
        if isinstance(frame, VideoFrame):
            return [frame]
        if self.fps is None:
            raise VideoError(f"{self.name} needs fps to time raw arrays; pass fps= or write VideoFrame objects")
        images = to_uint8_rgb(frame)
        first = self.frames_written
        return [VideoFrame(image, (first + i) / self.fps, first + i) for i, image in enumerate(images)]

    def _write_frame(self, frame: VideoFrame) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Finalise the output. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        self._finish()

    def _finish(self) -> None:
        """Subclass hook run once by ``close()``."""

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, frames_written={self.frames_written})"
