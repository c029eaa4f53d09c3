"""One H.264 (libx264) stream in a PyAV output container, encoded and muxed frame by frame."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

# ISO/IEC 23091-2 code for BT.709 primaries, transfer and matrix, and for limited ("tv") range.
_BT709 = 1
_LIMITED_RANGE = 1


def rate_fraction(fps: float) -> Fraction:
    """Exact frame rate as a fraction; 29.97 -> 2997/100, 30000/1001 stays 30000/1001."""
    return Fraction(fps).limit_denominator(1001)


class H264Encoder:
    """Encodes (H, W, 3) uint8 RGB frames into ``container`` at a constant rate, tagged BT.709 limited range
    (what players assume for untagged HD video, so colours survive a round trip).

    Args:
        container: an output container; the stream is added here.
        fps: frames per second; frame k gets pts k.
        size: (width, height) of the stream.
        pix_fmt: "yuv420p" (widest support; needs even sizes) or "yuv444p" (any size).
        options: libx264 options such as crf, preset, tune.
        gop: frames between keyframes.
    """

    def __init__(
        self,
        container: av.container.OutputContainer,
        fps: float,
        size: tuple[int, int],
        *,
        pix_fmt: str,
        options: dict[str, str],
        gop: int,
    ) -> None:
        self._container = container
        self._pix_fmt = pix_fmt
        self._stream = container.add_stream("libx264", rate=rate_fraction(fps))
        self._stream.width, self._stream.height = size
        self._stream.pix_fmt = pix_fmt
        self._stream.options = options
        context = self._stream.codec_context
        context.gop_size = gop
        context.color_primaries = context.color_trc = context.colorspace = _BT709
        context.color_range = _LIMITED_RANGE
        self._num_encoded = 0

    def encode(self, image: np.ndarray) -> None:
        """Encode one (H, W, 3) uint8 RGB frame and mux the packets the encoder releases."""
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame = frame.reformat(format=self._pix_fmt, dst_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.MPEG)
        frame.pts = self._num_encoded
        self._num_encoded += 1
        self._container.mux(self._stream.encode(frame))

    def flush(self) -> None:
        """Drain the frames the encoder still holds (lookahead, B-frames)."""
        self._container.mux(self._stream.encode(None))
