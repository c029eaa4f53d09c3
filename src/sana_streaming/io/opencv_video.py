"""Video files read through OpenCV, for machines without PyAV (a lent GPU machine, say).

OpenCV decodes with its own FFmpeg: the same frames as PyAV up to the two libraries' YUV -> RGB rounding
(under 2 levels on average, tested). Only files: streams, webcams and image folders need PyAV's sources.
"""

from __future__ import annotations

import os

from sana_streaming.io.frames import VideoError, VideoFrame
from sana_streaming.io.transform import FrameRateResampler


def open_video_file(path: str | os.PathLike, fps: float | None = None):
    """A video file's frames (resampled to ``fps`` when given): through PyAV when it is installed, else OpenCV.

    The result is a context manager that iterates VideoFrames and has ``fps``, ``num_frames`` (None when
    unknown) and ``error`` (None, or why the decode stopped early)."""
    try:
        import av  # noqa: F401
    except ImportError:
        return OpenCVVideo(path, fps)
    from sana_streaming.io.sources import open_source

    return open_source(path, fps=fps)


class OpenCVVideo:
    """A video file read by OpenCV, resampled to ``fps`` (default: the file's own rate)."""

    def __init__(self, path: str | os.PathLike, fps: float | None = None) -> None:
        import cv2

        self.path, self.error = path, None
        self.capture = cv2.VideoCapture(os.fspath(path))
        if not self.capture.isOpened():
            raise VideoError(f"not a video file: {path}")
        native = self.capture.get(cv2.CAP_PROP_FPS) or 0.0
        count = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.native_fps = native if native > 0 else (fps or 25.0)
        self.fps = fps or self.native_fps
        self.num_frames = int(count * self.fps / self.native_fps) if count > 0 else None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.capture.release()

    def __iter__(self):
        import cv2

        resampler = FrameRateResampler(self.fps)
        index, last = 0, None
        while True:
            ok, image = self.capture.read()
            if not ok:
                break
            last = VideoFrame(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), index / self.native_fps, index)
            index += 1
            yield from resampler.push(last)
        if last is not None:
            yield from resampler.flush(last.time + 1 / self.native_fps)
