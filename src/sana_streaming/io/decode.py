"""Reading one video stream of an open PyAV container as VideoFrames, and turning FFmpeg errors into sentences."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import av
import numpy as np

from sana_streaming.io.frames import VideoError, VideoFrame

# A file whose last frame ends this much before the duration in its header was cut short.
_TRUNCATION_SLACK_S = 0.5
_HEADER_DURATION_FORMATS = ("matroska", "mov")
# Frame period assumed for frames without timestamps when the stream declares no rate.
_FALLBACK_FPS = 30.0


def reason(err: BaseException) -> str:
    """One-line cause of an FFmpeg or OS error, without the errno and path PyAV adds."""
    if isinstance(err, av.error.ExitError):  # PyAV's timeout interrupt
        return "timed out"
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return " ".join(str(text).split())


def redact(url: str) -> str:
    """The URL with any password replaced by ***, safe to print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def video_stream(container: av.container.InputContainer, name: str) -> av.VideoStream:
    """The first video stream that is not cover art; closes the container and raises VideoError if none."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    container.close()
    raise VideoError(f"{name} has no video stream")


def nominal_fps(stream: av.VideoStream) -> float | None:
    """Declared frame rate of the stream, or None."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else None


def frame_size(stream: av.VideoStream) -> tuple[int, int] | None:
    """(width, height) declared by the stream, or None."""
    width, height = stream.codec_context.width, stream.codec_context.height
    return (width, height) if width > 0 and height > 0 else None


def duration_s(container: av.container.InputContainer, stream: av.VideoStream) -> float | None:
    """Duration of the video stream from the container header; the whole container's only if it has no other."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration and len(container.streams) == 1:
        return container.duration / av.time_base
    return None


def estimate_num_frames(container: av.container.InputContainer, stream: av.VideoStream) -> int | None:
    """Frame count from the header (mp4, mov), else duration x rate (mkv, fragmented mp4), else None."""
    if stream.frames > 0:
        return stream.frames
    duration, fps = duration_s(container, stream), nominal_fps(stream)
    return round(duration * fps) if duration and fps else None


class StreamReader:
    """Decodes one stream to RGB frames whose times start at 0; stops at the first corrupt or undecodable packet.

    Attributes:
        error: why decoding stopped early, or None.
        end_time: time at which the last yielded frame stops showing (seconds), or None before any frame.
    """

    def __init__(self, container: av.container.InputContainer, stream: av.VideoStream, name: str, live: bool):
        self.error: str | None = None
        self.end_time: float | None = None
        self._container, self._stream, self._name, self._live = container, stream, name, live
        self._period = 1.0 / (nominal_fps(stream) or _FALLBACK_FPS)
        self._origin: float | None = None
        self._num_frames = 0
        # Frame threading decodes faster but holds frames back; live input wants them as soon as possible.
        stream.thread_type = "SLICE" if live else "AUTO"

    def __iter__(self) -> Iterator[VideoFrame]:
        failure = None
        try:
            for packet in self._container.demux(self._stream):
                if packet.is_corrupt:  # a short read: the file ends inside this packet
                    failure = "corrupt data"
                    break
                for frame in packet.decode():
                    yield self._convert(frame)
        except av.FFmpegError as err:
            failure = reason(err)
        if failure:
            yield from self._drain_decoder()
            self.error = f"{self._name}: stopped after {self._num_frames} good frames: {failure}"
        elif not self._live:
            self.error = self._truncation()

    def _drain_decoder(self) -> Iterator[VideoFrame]:
        """Frames the decoder still holds from packets that decoded fine before the bad one."""
        try:
            for frame in self._stream.codec_context.decode(None):
                yield self._convert(frame)
        except av.FFmpegError:
            return

    def _convert(self, frame: av.VideoFrame) -> VideoFrame:
        # The frame's own colorspace and range tags drive the conversion; any pixel format works.
        image = np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
        time = frame.time
        if time is None:  # continue right after the previous frame
            time = 0.0 if self._origin is None else self._origin + self.end_time
        if self._origin is None:
            self._origin = time
        duration = float(frame.duration * frame.time_base) if frame.duration and frame.time_base else self._period
        video_frame = VideoFrame(image, time - self._origin, self._num_frames)
        self.end_time = video_frame.time + duration
        self._num_frames += 1
        return video_frame

    def _truncation(self) -> str | None:
        # Only containers that store the duration in their header can tell; mpegts durations are bitrate guesses.
        if not any(name in self._container.format.name for name in _HEADER_DURATION_FORMATS):
            return None
        duration = duration_s(self._container, self._stream)
        if not duration or self.end_time is None or self.end_time >= duration - _TRUNCATION_SLACK_S:
            return None
        expected = self._stream.frames
        if expected > self._num_frames:
            return f"{self._name}: stream ended after {self._num_frames} of {expected} frames (file truncated?)"
        return f"{self._name}: stream ended at {self.end_time:.2f} s of {duration:.2f} s (file truncated?)"
