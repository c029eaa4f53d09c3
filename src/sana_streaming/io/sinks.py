"""Video outputs: MP4/MOV/MKV files, image folders, network streams (for OBS) and callbacks, behind ``open_sink``."""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import av
import numpy as np

from sana_streaming.io.base import VideoSink
from sana_streaming.io.decode import reason, redact
from sana_streaming.io.encode import H264Encoder
from sana_streaming.io.frames import VideoError, VideoFrame, check_fps, check_size
from sana_streaming.io.images import ImageFolderSink

__all__ = ["CallbackSink", "ImageFolderSink", "Mp4Sink", "NetworkSink", "VideoSink", "open_sink"]

FILE_FORMATS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska"}
NETWORK_FORMATS = {"rtmp": "flv", "rtmps": "flv", "srt": "mpegts", "udp": "mpegts", "tcp": "mpegts"}
# Video suffixes we cannot write: refuse them rather than create a folder called "out.avi".
_UNSUPPORTED_VIDEO_SUFFIXES = (".avi", ".webm", ".gif", ".flv", ".ts", ".m4v", ".wmv", ".mpg", ".mpeg", ".ogv")
# One moof+mdat per keyframe, each written out as soon as it is complete: the file plays at any moment, even if the
# process is killed, losing at most the last keyframe interval plus the encoder's lookahead.
_FRAGMENTED_MP4 = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}


class _EncodedOutput:
    """A container and its encoder (created on the first frame when the size is not known up front); ``finish``
    runs once, from ``close()`` or from a finalizer if the sink is garbage-collected or the interpreter exits."""

    def __init__(self, container: av.container.OutputContainer) -> None:
        self.container = container
        self.encoder: H264Encoder | None = None
        self.broken = False
        self._done = False

    def finish(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            if self.encoder is not None and not self.broken:
                self.encoder.flush()
        except BaseException:
            self.broken = True
            raise
        finally:
            self._close_container()

    def _close_container(self) -> None:
        try:
            self.container.close()
        except (av.FFmpegError, OSError):
            if not self.broken:  # after a failed write the error has been reported already
                raise


class _H264Sink(VideoSink):
    """Shared body of the file and network sinks: encode each frame as it arrives, always finalise.

    Subclasses give the container opener, the x264 options, the messages and ``_coded_size``.
    """

    _open_message = "cannot write {name} ({reason})"
    _write_message = "cannot write {name} ({reason})"

    def __init__(
        self,
        name: str,
        fps: float,
        size: tuple[int, int] | None,
        open_container: Callable[[], av.container.OutputContainer],
        options: dict[str, str],
    ) -> None:
        super().__init__(name, fps)
        self.size = check_size(size) if size is not None else None
        self._options = options
        self._output = _EncodedOutput(open_container())
        self._finalizer = weakref.finalize(self, self._output.finish)
        if self.size is not None:
            self._start(self.size)

    def _coded_size(self, size: tuple[int, int]) -> tuple[tuple[int, int], str]:
        """((width, height), pix_fmt) of the encoded stream for frames of ``size``."""
        raise NotImplementedError

    def _start(self, size: tuple[int, int]) -> None:
        coded_size, pix_fmt = self._coded_size(size)
        gop = max(1, round(self.fps))  # a keyframe a second: fragment length, and join time for live viewers
        try:
            self._output.encoder = H264Encoder(
                self._output.container, self.fps, coded_size, pix_fmt=pix_fmt, options=self._options, gop=gop
            )
            # Writes the header (or connects) now: errors surface here, and a sink closed with no frame is valid.
            self._output.container.start_encoding()
        except (av.FFmpegError, OSError) as err:
            self._output.broken = True
            raise VideoError(self._open_message.format(name=self.name, reason=reason(err))) from None

    def _write_frame(self, frame: VideoFrame) -> None:
        if self._output.broken:
            raise VideoError(f"cannot write to {self.name}: an earlier write failed")
        if self._output.encoder is None:
            self.size = frame.size
            self._start(frame.size)
        if frame.size != self.size:
            raise VideoError(
                f"{self.name}: frame is {frame.size[0]}x{frame.size[1]}, expected {self.size[0]}x{self.size[1]}"
            )
        (coded_w, coded_h), _ = self._coded_size(self.size)
        image = frame.image
        if (coded_w, coded_h) != self.size:  # replicate the last column / row up to the coded size
            image = np.pad(image, ((0, coded_h - image.shape[0]), (0, coded_w - image.shape[1]), (0, 0)), mode="edge")
        try:
            self._output.encoder.encode(image)
        except (av.FFmpegError, OSError) as err:
            self._output.broken = True
            raise VideoError(self._write_message.format(name=self.name, reason=reason(err))) from None

    def _finish(self) -> None:
        try:
            self._finalizer()
        except (av.FFmpegError, OSError) as err:
            raise VideoError(self._write_message.format(name=self.name, reason=reason(err))) from None


class Mp4Sink(_H264Sink):
    """H.264 in .mp4, .mov (both fragmented) or .mkv, written incrementally and always finalised.

    Frames are encoded as they are written. The file is playable, with every written frame, after ``close()``,
    after an exception or KeyboardInterrupt inside ``with``, and when the sink is garbage-collected or the
    interpreter exits; if the process is killed it still plays up to the last complete fragment (the last second
    or so, plus the frames in the encoder's lookahead, is lost). Even sizes use yuv420p (plays everywhere). Odd
    sizes keep their exact size with yuv444p (FFmpeg-based players such as VLC and mpv play it; browsers and
    QuickTime do not): fit frames to an even size when that matters. A sink closed before any frame, with no
    ``size``, leaves no file.

    Args:
        path: output file; its suffix picks the container; parent folders are created.
        fps: constant output frame rate; frame k is shown at k / fps whatever the frames' own times.
        size: (width, height), or None to take it from the first frame.
        crf: x264 constant rate factor (0 lossless, 18 visually lossless, 23 default, 51 worst).
        preset: x264 speed preset; "veryfast" keeps up with real-time output at SANA-Streaming sizes.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        size: tuple[int, int] | None = None,
        *,
        crf: int = 18,
        preset: str = "veryfast",
    ) -> None:
        self.path = Path(path)
        container_format = FILE_FORMATS.get(self.path.suffix.lower())
        if container_format is None:
            raise VideoError(
                f"unsupported video file type '{self.path.suffix}': {self.path} (expected .mp4, .mov or .mkv)"
            )
        check_fps(fps, str(self.path))
        _create_file(self.path)
        muxer_options = {"flush_packets": "1"} | (_FRAGMENTED_MP4 if container_format != "matroska" else {})

        def open_container() -> av.container.OutputContainer:
            return av.open(str(self.path), "w", format=container_format, container_options=muxer_options)

        try:
            super().__init__(str(self.path), fps, size, open_container, {"crf": str(crf), "preset": preset})
        except VideoError:
            self.path.unlink(missing_ok=True)
            raise

    def _coded_size(self, size: tuple[int, int]) -> tuple[tuple[int, int], str]:
        even = size[0] % 2 == 0 and size[1] % 2 == 0
        return size, "yuv420p" if even else "yuv444p"

    def _finish(self) -> None:
        started = self._output.encoder is not None
        super()._finish()
        if not started:  # nothing to play: do not leave the empty file made to check writability
            self.path.unlink(missing_ok=True)


class NetworkSink(_H264Sink):
    """Live H.264 to rtmp(s):// (FLV) or srt:// / udp:// / tcp:// (MPEG-TS), e.g. into OBS.

    x264 runs with ``tune=zerolatency`` (no lookahead, no B-frames) and a keyframe every second so viewers can
    join quickly. yuv420p for every receiver: an odd-sized frame is padded to even size by repeating its last
    column / row. tcp:// connects to a listener; udp:// sends 1316-byte datagrams (7 MPEG-TS packets) unless the
    URL sets pkt_size. The connection is made once the size is known: at once, or on the first frame.
    """

    _open_message = "cannot open URL: {name} ({reason})"
    _write_message = "lost connection to {name} ({reason})"

    def __init__(
        self,
        url: str,
        fps: float,
        size: tuple[int, int] | None = None,
        *,
        crf: int = 23,
        preset: str = "veryfast",
        timeout: float = 10.0,
    ) -> None:
        name, parts = redact(url), urlsplit(url)
        container_format = NETWORK_FORMATS.get(parts.scheme.lower())
        if container_format is None:
            raise VideoError(
                f"unsupported output URL scheme {parts.scheme}:// in {name} (expected {', '.join(NETWORK_FORMATS)})"
            )
        if parts.scheme.lower() == "udp" and "pkt_size" not in dict(parse_qsl(parts.query)):
            url += ("&" if parts.query else "?") + "pkt_size=1316"
        self.url = url

        def open_container() -> av.container.OutputContainer:
            return av.open(url, "w", format=container_format, timeout=timeout)

        options = {"crf": str(crf), "preset": preset, "tune": "zerolatency"}
        super().__init__(name, fps, size, open_container, options)

    def _coded_size(self, size: tuple[int, int]) -> tuple[tuple[int, int], str]:
        return (size[0] + size[0] % 2, size[1] + size[1] % 2), "yuv420p"


class CallbackSink(VideoSink):
    """Calls ``fn(frame: VideoFrame)`` for each frame (raw arrays are wrapped, timed ``index / fps``)."""

    def __init__(self, fn: Callable[[VideoFrame], object], fps: float | None = None) -> None:
        if not callable(fn):
            raise VideoError(f"CallbackSink needs a callable, got {type(fn).__name__}")
        super().__init__(getattr(fn, "__qualname__", repr(fn)), fps)
        self.fn = fn

    def _write_frame(self, frame: VideoFrame) -> None:
        self.fn(frame)


def open_sink(
    spec: str | os.PathLike | Callable[[VideoFrame], object], *, fps: float, size: tuple[int, int] | None = None
) -> VideoSink:
    """Open a video output by description.

    Args:
        spec: a .mp4/.mov/.mkv path (Mp4Sink); an rtmp/srt/udp/tcp URL (NetworkSink); a callable (CallbackSink);
            anything else, an existing folder or a path without a video suffix, is a folder of PNGs
            (ImageFolderSink).
        fps: output frame rate.
        size: (width, height), or None to take it from the first frame.

    Raises:
        VideoError: one line naming the destination, e.g. "cannot write /ro/out.mp4 (Permission denied)".
    """
    if callable(spec) and not isinstance(spec, str | os.PathLike):
        return CallbackSink(spec, fps=fps)
    if not isinstance(spec, str | os.PathLike):
        raise VideoError(f"unsupported output {spec!r}: expected a path, a URL or a callable")
    text = os.fspath(spec)
    if "://" in text:
        return NetworkSink(text, fps, size)
    suffix = Path(text).suffix.lower()
    if suffix in FILE_FORMATS:
        return Mp4Sink(text, fps, size)
    if suffix in _UNSUPPORTED_VIDEO_SUFFIXES:
        raise VideoError(
            f"unsupported video file type '{suffix}': {text} (expected .mp4, .mov, .mkv, a folder or a URL)"
        )
    return ImageFolderSink(text, fps=fps)


def _create_file(path: Path) -> None:
    """Create ``path`` (and its folders) now, so an unwritable destination fails before any frame is computed."""
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise VideoError(f"cannot write {path} ({parent} is a file)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.open("wb").close()
    except OSError as err:
        raise VideoError(f"cannot write {path} ({reason(err)})") from None
