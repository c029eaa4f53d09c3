"""Live hand-off between a producer thread and the consumer: a bounded queue that drops the oldest frames."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from sana_streaming.io.base import VideoSource
from sana_streaming.io.frames import VideoError, VideoFrame, check_fps, to_uint8_rgb


class FrameQueue:
    """Thread-safe FIFO of frames holding at most ``max_queued``; when full the oldest frames are dropped so a slow
    consumer always gets recent frames (bounded latency) instead of an ever-growing backlog."""

    def __init__(self, max_queued: int) -> None:
        if max_queued < 1:
            raise VideoError(f"max_queued must be at least 1, got {max_queued}")
        self.max_queued = max_queued
        self.dropped = 0
        self._frames: deque[VideoFrame] = deque()
        self._closed = False
        self._ready = threading.Condition()

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, frames: Sequence[VideoFrame]) -> int:
        """Append frames; returns how many queued frames were dropped to make room."""
        with self._ready:
            self._frames.extend(frames)
            num_dropped = max(0, len(self._frames) - self.max_queued)
            for _ in range(num_dropped):
                self._frames.popleft()
            self.dropped += num_dropped
            self._ready.notify_all()
        return num_dropped

    def close(self) -> None:
        """No more frames will come; consumers still receive the queued ones."""
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def __iter__(self) -> Iterator[VideoFrame]:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._frames or self._closed)
                if not self._frames:
                    return
                frame = self._frames.popleft()
            yield frame


class PushSource(VideoSource):
    """A live source fed from Python, typically from another thread (a UI, a capture callback).

    Iteration blocks until frames arrive and ends after ``close()`` once the queued frames are consumed.

    Attributes:
        dropped: frames dropped so far because the queue was full.
    """

    live = True
    _require_frames = False

    def __init__(self, fps: float, *, max_queued: int = 64, name: str = "push source") -> None:
        self.fps = check_fps(fps, name)
        self.name = name
        self._queue = FrameQueue(max_queued)
        self._num_pushed = 0
        self._lock = threading.Lock()

    @property
    def dropped(self) -> int:
        return self._queue.dropped

    def push(self, frames: np.ndarray | torch.Tensor, times: float | Sequence[float] | None = None) -> int:
        """Queue one frame or a clip.

        Args:
            frames: anything :func:`to_uint8_rgb` accepts; copied, so the caller may reuse its buffer.
            times: presentation time of each frame in seconds; default ``index / fps``.

        Returns:
            Number of queued frames this call dropped because the queue was full (oldest first).
        """
        if self._queue.closed:
            raise VideoError(f"cannot push to {self.name}: it is closed")
        images = to_uint8_rgb(frames)
        if images is frames or not images.flags.owndata:
            images = images.copy()
        with self._lock:  # indices stay consecutive when several threads push
            first = self._num_pushed
            stamps = self._times(times, first, len(images))
            batch = [VideoFrame(image, t, first + i) for i, (image, t) in enumerate(zip(images, stamps, strict=True))]
            self._num_pushed += len(batch)
            if self.size is None:
                self.size = batch[0].size
            return self._queue.put(batch)

    def _times(self, times: float | Sequence[float] | None, first: int, count: int) -> list[float]:
        if times is None:
            return [(first + i) / self.fps for i in range(count)]
        stamps = np.atleast_1d(np.asarray(times, dtype=np.float64))
        if stamps.shape != (count,):
            raise VideoError(f"{self.name}: got {stamps.size} times for {count} frames")
        return stamps.tolist()

    def close(self) -> None:
        self._queue.close()

    def _frames(self) -> Iterator[VideoFrame]:
        return iter(self._queue)
