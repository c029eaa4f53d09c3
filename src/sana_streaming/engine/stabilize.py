"""A causal, flow-guided temporal filter on the edited stream (deflicker).

The edit of frame ``t`` is pulled towards the filtered edit of frame ``t - 1`` carried along the source's
motion::

    out_t = edit_t + w * (warp(out_{t-1}) - edit_t),   w = strength * exp(-(e / tolerance) ** 2)

per pixel, where ``e`` is how far source frame ``t - 1``, carried the same way, lands from source frame ``t``
(mean absolute difference over the channels, 0-255). Where the source's own motion is followed (``e`` small) the
edit keeps to its past and the frame-to-frame noise of a small model's decoder averages out; where it is not
(occlusions, new content, scene cuts, flow errors) the new edit passes unchanged. The flow is OpenCV's DIS
(ultrafast preset) from source ``t`` to source ``t - 1``, on luma, at most ``flow_width`` pixels wide. The filter
reads only past frames, so it adds no latency, and it works at the editor's resolution.
"""

from __future__ import annotations

import cv2
import numpy as np

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_MIN_FLOW_SIDE = 32


class TemporalStabilizer:
    """One stream's filter: call it with each (source, edit) frame pair in order; :meth:`reset` between streams.

    Args:
        strength: the largest weight of the past, in [0, 1); 0 passes the edit through unchanged.
        tolerance: source mismatch (0-255) at which the weight has fallen to ``strength / e``.
        flow_width: frames wider than this are downscaled for the flow (its cost grows with the area), but
            never below 32 pixels on a side.
    """

    def __init__(self, strength: float = 0.8, tolerance: float = 15.0, flow_width: int = 512) -> None:
        if not 0 <= strength < 1:
            raise ValueError(f"stabilizer strength must be within [0, 1), got {strength!r}")
        if not tolerance > 0:
            raise ValueError(f"stabilizer tolerance must be > 0, got {tolerance!r}")
        self.strength, self.tolerance, self.flow_width = float(strength), float(tolerance), int(flow_width)
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._grid: tuple[np.ndarray, np.ndarray] | None = None
        self.reset()

    def reset(self) -> None:
        """Forget the past (a new stream, or a cut the caller knows of)."""
        self._source: np.ndarray | None = None  # the previous source frame (float32) and its luma (uint8)
        self._gray: np.ndarray | None = None
        self._out: np.ndarray | None = None  # the previous filtered edit (float32)

    def __call__(self, source: np.ndarray, edited: np.ndarray) -> np.ndarray:
        """The filtered edit of this frame, (H, W, 3) uint8, from its source and edit (both (H, W, 3) uint8)."""
        if source.shape != edited.shape:
            raise ValueError(f"stabilizer: source {source.shape} and edit {edited.shape} differ in shape")
        current = edited.astype(np.float32)
        source_f = source.astype(np.float32)
        gray = np.clip(source_f @ _LUMA, 0, 255).astype(np.uint8)
        if self.strength > 0 and self._out is not None and self._out.shape == current.shape:
            map_x, map_y = self._maps(gray)
            carried = cv2.remap(self._out, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            landed = cv2.remap(self._source, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            mismatch = np.abs(landed - source_f).mean(-1, keepdims=True)
            weight = self.strength * np.exp(-np.square(mismatch / self.tolerance))
            current += weight * (carried - current)
        self._source, self._gray, self._out = source_f, gray, current
        return np.clip(np.rint(current), 0, 255).astype(np.uint8)

    def _maps(self, gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where each pixel of this frame sits in the previous one (remap's maps), from the sources' flow."""
        height, width = gray.shape
        # DIS crashes on frames under some 32 pixels on a side (OpenCV 4.x): tiny frames are flowed enlarged
        scale = max(min(1.0, self.flow_width / width), _MIN_FLOW_SIDE / min(height, width))
        if scale != 1:
            size = (round(width * scale), round(height * scale))
            small = [cv2.resize(g, size, interpolation=cv2.INTER_AREA) for g in (gray, self._gray)]
            flow = self._flow.calc(small[0], small[1], None)
            flow = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
            flow[..., 0] *= width / size[0]
            flow[..., 1] *= height / size[1]
        else:
            flow = self._flow.calc(gray, self._gray, None)
        if self._grid is None or self._grid[0].shape != gray.shape:
            xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
            self._grid = (xs, ys)
        return self._grid[0] + flow[..., 0], self._grid[1] + flow[..., 1]
