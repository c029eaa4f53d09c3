"""Video inputs: files, image folders, webcams, network streams and Python-pushed frames, behind ``open_source``."""

from __future__ import annotations

import math
import os
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import av

from sana_streaming.io.base import VideoSource
from sana_streaming.io.decode import (
    StreamReader,
    duration_s,
    estimate_num_frames,
    frame_size,
    nominal_fps,
    reason,
    redact,
    video_stream,
)
from sana_streaming.io.frames import VideoError, VideoFrame, check_fps
from sana_streaming.io.images import DEFAULT_FOLDER_FPS, ImageFolderSource
from sana_streaming.io.push import FrameQueue, PushSource
from sana_streaming.io.transform import FrameRateResampler, timestamp_tolerance

__all__ = [
    "FileSource",
    "ImageFolderSource",
    "NetworkSource",
    "PushSource",
    "VideoSource",
    "WebcamSource",
    "open_source",
]

INPUT_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "srt", "udp", "tcp", "http", "https")
_WEBCAM_SPEC = re.compile(r"webcam(?::(\d+))?")
_WEBCAM_DEVICE = re.compile(r"/dev/video\d+")
_STOP_WAIT_S = 1.0


class _ContainerSource(VideoSource):
    """A PyAV input container. Files decode on the consumer's thread; live inputs decode on a reader thread into a
    drop-oldest queue so a slow consumer sees recent frames instead of a growing backlog.

    With ``fps`` set, frames are resampled to that constant rate by timestamp (see FrameRateResampler).
    """

    def _init_stream(
        self, container: av.container.InputContainer, name: str, *, live: bool, fps: float | None, max_queued: int
    ) -> None:
        if fps is not None:
            try:
                fps = check_fps(fps, name)
            except VideoError:
                container.close()
                raise
        stream = video_stream(container, name)
        self.name, self.live = name, live
        self.fps = fps or nominal_fps(stream)
        self.size = frame_size(stream)
        self.num_frames = None if live else self._expected_frames(container, stream, fps)
        self.dropped = 0
        self._container = container
        self._reader = StreamReader(container, stream, name, live)
        self._resample_fps = fps
        self._time_base = stream.time_base
        self._queue = FrameQueue(max_queued)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    @staticmethod
    def _expected_frames(
        container: av.container.InputContainer, stream: av.VideoStream, fps: float | None
    ) -> int | None:
        count = estimate_num_frames(container, stream)
        if fps is None or count is None:
            return count
        duration = duration_s(container, stream) or count / (nominal_fps(stream) or fps)
        return math.ceil(duration * fps - 1e-6)

    def _frames(self) -> Iterator[VideoFrame]:
        if self._closed:
            raise VideoError(f"{self.name} is closed; open it again to read it")
        if not self.live:
            try:
                yield from self._decoded()
            finally:
                self.close()
            return
        self._thread = threading.Thread(target=self._read_live, name=f"read {self.name}", daemon=True)
        self._thread.start()
        yield from self._queue
        self.dropped = self._queue.dropped

    def _decoded(self) -> Iterator[VideoFrame]:
        if self._resample_fps is None:
            yield from self._reader
        else:
            fps = self._resample_fps
            resampler = FrameRateResampler(fps, timestamp_tolerance(self._time_base, fps))
            for frame in self._reader:
                yield from resampler.push(frame)
            if self._reader.end_time is not None:
                yield from resampler.flush(self._reader.end_time)
        self.error = self._reader.error

    def _read_live(self) -> None:
        try:
            for frame in self._decoded():
                if self._stop.is_set():
                    break
                self._queue.put([frame])
                self.dropped = self._queue.dropped
        except Exception as err:  # the consumer thread reports it through `error`
            self.error = f"{self.name}: reading stopped ({reason(err)})"
        finally:
            self._container.close()
            self._queue.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread is None:
            self._container.close()
            return
        self._stop.set()
        self._queue.close()
        # The reader stops at its next frame, or at the read timeout if the stream has stalled; it closes the
        # container itself, so close() need not wait out a stalled stream.
        self._thread.join(_STOP_WAIT_S)


class FileSource(_ContainerSource):
    """A video file in any container FFmpeg demuxes; the first video stream, any pixel format, decoded to RGB."""

    def __init__(self, path: str | os.PathLike, *, fps: float | None = None) -> None:
        path = Path(path)
        if not path.exists():
            raise VideoError(f"input not found: {path}")
        try:
            container = av.open(os.fspath(path))
        except (av.FFmpegError, OSError) as err:
            raise VideoError(f"not a video file: {path} ({reason(err)})") from None
        self._init_stream(container, str(path), live=False, fps=fps, max_queued=1)


class NetworkSource(_ContainerSource):
    """rtsp, rtmp, srt, udp, tcp or http(s) input; live unless it is http(s) serving something with a duration."""

    def __init__(self, url: str, *, fps: float | None = None, timeout: float = 10.0, max_queued: int = 64) -> None:
        name, scheme = redact(url), urlsplit(url).scheme.lower()
        # RTSP over UDP turns packet loss into smeared frames; TCP costs a little latency and keeps frames whole.
        options = {"rtsp_transport": "tcp"} if scheme.startswith("rtsp") else {}
        try:
            container = av.open(url, container_options=options, timeout=timeout)
        except (av.FFmpegError, OSError) as err:
            raise VideoError(f"cannot open URL: {name} ({_url_failure(err, scheme, timeout)})") from None
        live = scheme not in ("http", "https") or not container.duration
        self._init_stream(container, name, live=live, fps=fps, max_queued=max_queued)


class WebcamSource(_ContainerSource):
    """A V4L2 camera (Linux), live. ``fps`` and ``size`` are requested from the driver, which may pick the nearest
    mode it supports; with ``fps`` set the output is also resampled to exactly that rate."""

    def __init__(
        self,
        device: int | str = 0,
        *,
        fps: float | None = None,
        size: tuple[int, int] | None = None,
        timeout: float = 10.0,
        max_queued: int = 64,
    ) -> None:
        path = f"/dev/video{device}" if isinstance(device, int) else str(device)
        if not sys.platform.startswith("linux"):
            raise VideoError(f"webcam input needs Linux (v4l2), this is {sys.platform}: {path}")
        if not os.path.exists(path):
            raise VideoError(f"webcam not found: {path}")
        options = {}
        if fps:
            options["framerate"] = f"{fps:g}"
        if size:
            options["video_size"] = f"{size[0]}x{size[1]}"
        try:
            container = av.open(path, format="v4l2", container_options=options, timeout=timeout)
        except (av.FFmpegError, OSError) as err:
            raise VideoError(f"cannot open webcam {path} ({reason(err)})") from None
        self._init_stream(container, path, live=True, fps=fps, max_queued=max_queued)


def open_source(spec: str | os.PathLike | int, *, fps: float | None = None, timeout: float = 10.0) -> VideoSource:
    """Open a video input by description.

    Args:
        spec: a video file (any container FFmpeg reads); a folder of images; "webcam", "webcam:N", an int N or
            "/dev/videoN"; or an rtsp/rtmp/srt/udp/tcp/http(s) URL.
        fps: for files, cameras and streams, resample to this constant rate (None keeps the source's timing);
            for image folders, the frame rate (default 16).
        timeout: seconds to wait for a network stream or camera before giving up.

    Raises:
        VideoError: one line naming the input, e.g. "input not found: /x/y.mp4".
    """
    if isinstance(spec, bool) or not isinstance(spec, str | os.PathLike | int):
        raise VideoError(f"unsupported input {spec!r}: expected a path, a URL, 'webcam[:N]' or a camera index")
    if isinstance(spec, int):
        return WebcamSource(spec, fps=fps, timeout=timeout)
    text = os.fspath(spec)
    if match := _WEBCAM_SPEC.fullmatch(text):
        return WebcamSource(int(match[1] or 0), fps=fps, timeout=timeout)
    if _WEBCAM_DEVICE.fullmatch(text):
        return WebcamSource(text, fps=fps, timeout=timeout)
    if "://" in text:
        scheme = urlsplit(text).scheme.lower()
        if scheme not in INPUT_SCHEMES:
            raise VideoError(
                f"unsupported URL scheme {scheme}:// in {redact(text)} (expected {', '.join(INPUT_SCHEMES)})"
            )
        return NetworkSource(text, fps=fps, timeout=timeout)
    path = Path(text).expanduser()
    if path.is_dir():
        return ImageFolderSource(path, fps=fps or DEFAULT_FOLDER_FPS)
    return FileSource(path, fps=fps)


def _url_failure(err: BaseException, scheme: str, timeout: float) -> str:
    if isinstance(err, av.error.ExitError):
        return f"no answer within {timeout:g} s"
    if isinstance(err, av.error.ProtocolNotFoundError):
        return f"this FFmpeg build cannot read {scheme}://"
    return reason(err)
