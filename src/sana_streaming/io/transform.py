"""Frame geometry and timing: fit a frame to the model's size, resample to a constant rate, compose comparisons."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from sana_streaming.io.frames import VideoError, VideoFrame, check_fps, check_size, to_uint8_rgb

FIT_MODES = ("crop", "letterbox", "stretch")


def fit_frame(image: np.ndarray, size: tuple[int, int], mode: str = "crop") -> np.ndarray:
    """Resize one frame to exactly ``size``.

    Args:
        image: (H, W, 3) uint8 RGB (anything :func:`to_uint8_rgb` accepts as a single frame also works).
        size: (width, height) of the result.
        mode: "crop" resizes so the frame covers the target keeping its aspect ratio, then centre-crops (the
            official SANA-Streaming preprocessing); "letterbox" resizes to fit inside and pads with black,
            centred; "stretch" resizes to the target ignoring the aspect ratio.

    Returns:
        (height, width, 3) uint8, C-contiguous (the input itself when it already has that size). Resampling is
        antialiased bicubic, deterministic.
    """
    image = _single_frame(image)
    width, height = check_size(size)
    if mode not in FIT_MODES:
        raise VideoError(f"fit mode must be one of {', '.join(FIT_MODES)}, got {mode!r}")
    src_h, src_w = image.shape[:2]
    if (src_w, src_h) == (width, height):
        return image
    if mode == "stretch":
        return resize(image, (width, height))
    scale = max(width / src_w, height / src_h) if mode == "crop" else min(width / src_w, height / src_h)
    # Clamp against rounding so a cover never falls short of the target and a fit never exceeds it.
    limit = max if mode == "crop" else min
    new_w = max(1, limit(width, round(src_w * scale)))
    new_h = max(1, limit(height, round(src_h * scale)))
    resized = resize(image, (new_w, new_h))
    if mode == "crop":
        left, top = (new_w - width) // 2, (new_h - height) // 2
        return np.ascontiguousarray(resized[top : top + height, left : left + width])
    canvas = np.zeros((height, width, 3), np.uint8)
    left, top = (width - new_w) // 2, (height - new_h) // 2
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Antialiased bicubic resize of (H, W, 3) uint8 to (height, width, 3) uint8, with size = (width, height)."""
    width, height = size
    if image.shape[:2] == (height, width):
        return image
    # torch's uint8 antialiased path is exact on flat colours, deterministic across thread counts and fast.
    pixels = torch.from_numpy(image if image.flags.writeable else image.copy())
    pixels = pixels.permute(2, 0, 1).unsqueeze(0)  # (1, 3, H, W), channels-last in memory
    out = F.interpolate(pixels, size=(height, width), mode="bicubic", antialias=True, align_corners=False)
    return np.ascontiguousarray(out[0].permute(1, 2, 0).numpy())


def side_by_side(left: np.ndarray, right: np.ndarray, mode: str = "stretch") -> np.ndarray:
    """Put two frames next to each other, e.g. input | edited output.

    Args:
        left: (H, W, 3) uint8.
        right: (H', W', 3) uint8, resized to left's size with :func:`fit_frame` ``mode`` when it differs.

    Returns:
        (H, 2W, 3) uint8.
    """
    left = _single_frame(left)
    right = fit_frame(_single_frame(right), (left.shape[1], left.shape[0]), mode)
    return np.concatenate([left, right], axis=1)


class FrameRateResampler:
    """Constant-rate output from frames with arbitrary, non-decreasing timestamps (e.g. 30 fps -> 16 fps).

    Output frame k has time k / fps and shows the latest input frame with time <= k / fps, so input frames are
    dropped or repeated; output indices are consecutive from 0. Outputs before the first input show the first
    input. An output is emitted once an input at or after its time arrives; ``flush`` emits the tail.
    Repeated outputs share the input's image array.
    """

    def __init__(self, fps: float, tolerance: float | None = None) -> None:
        """``tolerance``: seconds within which two times count as equal; give the input's time-base tick
        (see :func:`timestamp_tolerance`) when its timestamps are coarse (Matroska: 1 ms, so 1/16 s reads 0.063)."""
        self.fps = check_fps(fps, "FrameRateResampler")
        self._tolerance = 1e-3 / self.fps if tolerance is None else tolerance
        self._latest: VideoFrame | None = None
        self._num_emitted = 0

    def push(self, frame: VideoFrame) -> list[VideoFrame]:
        """Add one input frame; returns the output frames that are now decided (possibly none)."""
        held = frame if self._latest is None else self._latest
        out = self._emit_before(frame.time - self._tolerance, held)
        self._latest = frame
        out += self._emit_before(frame.time + self._tolerance, frame, inclusive=True)
        return out

    def flush(self, end_time: float) -> list[VideoFrame]:
        """Emit the outputs with time < ``end_time`` that are still pending (the input ends at ``end_time``)."""
        if self._latest is None:
            return []
        return self._emit_before(end_time - self._tolerance, self._latest)

    def _emit_before(self, time: float, frame: VideoFrame, inclusive: bool = False) -> list[VideoFrame]:
        out = []
        while True:
            k = self._num_emitted
            if k / self.fps > time or (k / self.fps == time and not inclusive):
                return out
            out.append(VideoFrame(frame.image, k / self.fps, k))
            self._num_emitted += 1


def timestamp_tolerance(time_base: float | None, fps: float) -> float:
    """One tick of a stream's time base (at least a thousandth of an output period): timestamps are rounded to it."""
    return max(1e-3 / fps, float(time_base or 0))


def _single_frame(image: np.ndarray) -> np.ndarray:
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(image)
    clip = to_uint8_rgb(image)
    if clip.shape[0] != 1:
        raise VideoError(f"expected one frame, got {clip.shape[0]} frames of shape {tuple(clip.shape[1:])}")
    return clip[0]
