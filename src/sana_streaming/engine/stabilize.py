"""A causal, flow-guided temporal filter on the edited stream (deflicker).

The edit of frame ``t`` is pulled towards the filtered edit of frame ``t - 1`` carried along the source's
motion::

    out_t = edit_t + w * (warp(out_{t-1}) - edit_t),   w = strength * exp(-(e / tolerance) ** 2)

per pixel, where ``e`` is how far source frame ``t - 1``, carried the same way, lands from source frame ``t``
(mean absolute difference over the channels, 0-255). Where the source's own motion is followed (``e`` small) the
edit keeps to its past and the frame-to-frame noise of a small model's decoder averages out; where it is not
(occlusions, new content, scene cuts, flow errors) the new edit passes unchanged. The flow is OpenCV's DIS
(``flow_preset``: ultrafast by default) from source ``t`` to source ``t - 1`` on luma, on the CPU, at most
``flow_width`` pixels wide. On the CPU OpenCV warps and blends; for a GPU's edit torch does, on the device (its
frames never leave it before they are filtered), where the luma is computed too: only the gray frames travel to
the CPU. The filter reads only past frames, so it adds no latency.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

# OpenCV's fixed-point RGB-to-gray weights for 8-bit frames (0.299, 0.587, 0.114 in 15 bits, rounded): the device
# path computes the same luma on the device, bit for bit
_LUMA_Q15 = (9798, 19235, 3735)
_MIN_FLOW_SIDE = 32  # DIS crashes on frames under some 32 pixels on a side (OpenCV 4.x): those are enlarged
FLOW_PRESETS = ("ultrafast", "fast", "medium")  # OpenCV's DIS presets, faster to more exact


def flow_estimator(preset: str = "ultrafast"):
    """OpenCV's DIS optical flow at one of :data:`FLOW_PRESETS` (at 384x224 on a 2-core CPU about 0.7, 1.8 and
    5.9 ms a frame)."""
    if preset not in FLOW_PRESETS:
        raise ValueError(f"flow preset must be one of {', '.join(FLOW_PRESETS)}, got {preset!r}")
    return cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{preset.upper()}"))


def luma(frames: Tensor) -> Tensor:
    """(T, 3, H, W) uint8 RGB frames -> (T, H, W) uint8 luma, on their device, bit for bit OpenCV's RGB-to-gray."""
    r, g, b = frames.int().unbind(1)
    return ((_LUMA_Q15[0] * r + _LUMA_Q15[1] * g + _LUMA_Q15[2] * b + (1 << 14)) >> 15).to(torch.uint8)


def gray_for_flow(gray: np.ndarray, flow_width: int) -> np.ndarray:
    """A luma frame (uint8) at the flow's size: at most ``flow_width`` wide, at least 32 pixels on a side."""
    height, width = gray.shape
    scale = max(min(1.0, flow_width / width), _MIN_FLOW_SIDE / min(height, width))
    if scale == 1:
        return gray
    return cv2.resize(gray, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)


def flow_grid(flows: Tensor, height: int, width: int) -> Tensor:
    """grid_sample's (N, H, W, 2) grid (align_corners=True) from flows (N, 2, h, w) at the flow's size, in its
    pixels: sampling frame ``t - 1`` with it carries that frame onto frame ``t``."""
    small_h, small_w = flows.shape[-2:]
    if (small_h, small_w) != (height, width):
        flows = F.interpolate(flows, size=(height, width), mode="bilinear", align_corners=False)
        flows = flows * torch.tensor([width / small_w, height / small_h], device=flows.device).view(1, 2, 1, 1)
    ys = torch.arange(height, device=flows.device, dtype=torch.float32).view(1, height, 1)
    xs = torch.arange(width, device=flows.device, dtype=torch.float32).view(1, 1, width)
    x = (xs + flows[:, 0]) * (2 / max(width - 1, 1)) - 1
    y = (ys + flows[:, 1]) * (2 / max(height - 1, 1)) - 1
    return torch.stack([x, y], dim=-1)


@dataclass
class Carry:
    """How a chunk's frames follow the source's motion (:func:`carry_along_motion`): index ``i`` of ``grids`` and
    ``weights`` is frame ``i``'s, for the frames with a past."""

    grays: list[np.ndarray]  # each source frame's luma at the flow's size
    flows: list[np.ndarray | None]  # each frame's flow to the previous source frame; None where it has no past
    grids: dict[int, Tensor]  # (1, h, w, 2): sampling the previous frame's image with it carries it onto frame i
    weights: dict[int, Tensor]  # (1, h, w): strength * exp(-(mismatch / tolerance) ** 2)


@torch.no_grad()
def carry_along_motion(
    dis,
    sources: Tensor,
    images: Tensor,
    past: tuple[np.ndarray, Tensor] | None,
    strength: float,
    tolerance: float,
    flow_width: int,
    known: list[np.ndarray | None] | None = None,
) -> Carry:
    """A chunk's flows, grids and weights at once (they depend on the sources alone): ``sources`` (T, 3, H, W)
    uint8 give the flows (DIS ``dis`` on their luma, at most ``flow_width`` wide, except where ``known`` has
    one); ``images`` (T, C, h, w) float, the sources at the size of what is carried, give the grids and the
    mismatch; ``past`` the previous chunk's last (gray, image), None at a stream's start."""
    count, _, height, width = images.shape
    grays = [gray_for_flow(gray, flow_width) for gray in luma(sources).cpu().numpy()]
    known = known if known is not None else [None] * count
    previous_grays = [past[0] if past else None, *grays[:-1]]
    previous_images = [past[1] if past else None, *images[:-1]]
    frames = [i for i in range(count) if previous_images[i] is not None] if strength > 0 else []
    flows: list[np.ndarray | None] = [None] * count
    grids, weights = {}, {}
    if frames:
        for i in frames:
            flows[i] = dis.calc(grays[i], previous_grays[i], None) if known[i] is None else known[i]
        stacked = torch.from_numpy(np.stack([flows[i] for i in frames])).permute(0, 3, 1, 2).to(images.device)
        grid = flow_grid(stacked, height, width)
        landed = F.grid_sample(
            torch.stack([previous_images[i] for i in frames]), grid, "bilinear", "border", align_corners=True
        )
        mismatch = (landed - images[frames]).abs().mean(1, keepdim=True)
        weight = strength * torch.exp(-((mismatch / tolerance) ** 2))
        for n, i in enumerate(frames):
            grids[i], weights[i] = grid[n : n + 1], weight[n]
    return Carry(grays, flows, grids, weights)


@torch.no_grad()
def follow(frames: Tensor, previous: Tensor | None, carry: Carry) -> Tensor:
    """The recursion, frame after frame: ``frames`` (T, C, h, w) each pulled towards the previous output
    (``previous`` before the first) carried along the motion with the carry's weight -> float32 outputs."""
    out = torch.empty_like(frames, dtype=torch.float32)
    current = previous
    for i in range(len(frames)):
        frame = frames[i].float()
        if i in carry.grids:
            carried = F.grid_sample(current[None], carry.grids[i], "bilinear", "border", align_corners=True)[0]
            frame = frame + carry.weights[i] * (carried - frame)
        out[i] = current = frame
    return out


class TemporalStabilizer:
    """One stream's filter: give it each chunk (or frame) of (source, edit) in order; :meth:`reset` between
    streams.

    Args:
        strength: the largest weight of the past, in [0, 1); 0 passes the edit through unchanged.
        tolerance: source mismatch (0-255) at which the weight has fallen to ``strength / e``.
        flow_width: frames wider than this are downscaled for the flow (its cost grows with the area).
        flow_preset: the DIS preset of the flow, one of :data:`FLOW_PRESETS` (slower ones follow fast motion
            further).
    """

    def __init__(
        self, strength: float = 0.8, tolerance: float = 20.0, flow_width: int = 384, flow_preset: str = "ultrafast"
    ) -> None:
        if not 0 <= strength < 1:
            raise ValueError(f"stabilizer strength must be within [0, 1), got {strength!r}")
        if not tolerance > 0:
            raise ValueError(f"stabilizer tolerance must be > 0, got {tolerance!r}")
        self.strength, self.tolerance, self.flow_width = float(strength), float(tolerance), int(flow_width)
        self._dis = flow_estimator(flow_preset)
        self._pixels: tuple[np.ndarray, np.ndarray] | None = None  # the CPU path's pixel coordinates (x, y)
        self.reset()

    def reset(self) -> None:
        """Forget the past (a new stream, or a cut the caller knows of)."""
        self._gray: np.ndarray | None = None  # the previous source frame's luma at the flow's size
        # the previous source frame and filtered edit, float32: (H, W, 3) arrays on the CPU path, (3, H, W)
        # tensors on the edit's device on the device path (a stream keeps to one)
        self._source: np.ndarray | Tensor | None = None
        self._out: np.ndarray | Tensor | None = None

    def __call__(self, source: np.ndarray, edited: np.ndarray) -> np.ndarray:
        """One frame: the filtered edit, (H, W, 3) uint8, from its source and edit (both (H, W, 3) uint8)."""
        if source.shape != edited.shape:
            raise ValueError(f"stabilizer: source {source.shape} and edit {edited.shape} differ in shape")
        return np.clip(np.rint(self._step(source, edited)), 0, 255).astype(np.uint8)

    def chunk(self, sources: np.ndarray, edited: Tensor, flows: list[np.ndarray | None] | None = None) -> Tensor:
        """Consecutive frames: ``sources`` (T, H, W, 3) uint8 and ``edited`` (T, 3, H, W) float on the 0-255
        scale; returns the filtered edits like ``edited`` (float32, not rounded). On the CPU, OpenCV warps (the
        fastest there); elsewhere torch does, on the edit's device. ``flows``: each frame's flow to the previous
        source frame where another stage of the same stream computed it (DIS on the luma, at any size: it is scaled
        to the frame's; :attr:`~sana_streaming.engine.guide.GuidedRefiner.flows`), None where there is none."""
        count, _, height, width = edited.shape
        if sources.shape != (count, height, width, 3):
            raise ValueError(f"stabilizer: sources {sources.shape} do not match edits {tuple(edited.shape)}")
        if flows is not None and len(flows) != count:
            raise ValueError(f"stabilizer: {len(flows)} flows for {count} frames")
        flows = flows if flows is not None else [None] * count
        if edited.device.type != "cpu":
            return self._chunk_torch(sources, edited, flows)
        frames = edited.detach().float().permute(0, 2, 3, 1).numpy()
        steps = zip(sources, frames, flows, strict=True)
        out = np.stack([self._step(source, frame, flow) for source, frame, flow in steps])
        return torch.from_numpy(out).permute(0, 3, 1, 2)

    def _step(self, source: np.ndarray, edited: np.ndarray, flow: np.ndarray | None = None) -> np.ndarray:
        """The CPU path, one frame: (H, W, 3) uint8 source, (H, W, 3) edit (uint8 or float32, not modified), the
        flow to the previous source frame if known -> filtered, float32."""
        source_f = source.astype(np.float32)
        gray = gray_for_flow(cv2.cvtColor(source, cv2.COLOR_RGB2GRAY), self.flow_width)
        current = edited.astype(np.float32, copy=True)
        self._forget_other(current.shape, None)
        if self.strength > 0 and self._out is not None:
            height, width = current.shape[:2]
            flow = self._dis.calc(gray, self._gray, None) if flow is None else flow
            if flow.shape[:2] != (height, width):
                scale = np.array([width / flow.shape[1], height / flow.shape[0]], np.float32)
                flow = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR) * scale
            if self._pixels is None or self._pixels[0].shape != (height, width):
                self._pixels = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
            map_x, map_y = self._pixels[0] + flow[..., 0], self._pixels[1] + flow[..., 1]
            carried = cv2.remap(self._out, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            landed = cv2.remap(self._source, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            weight = self._weight(np.abs(landed - source_f).mean(-1, keepdims=True), np.exp)
            current += weight * (carried - current)
        self._gray, self._source, self._out = gray, source_f, current
        return current

    @torch.no_grad()
    def _chunk_torch(self, sources: np.ndarray, edited: Tensor, known: list[np.ndarray | None] | None = None) -> Tensor:
        """The device path: the chunk's flows and weights at once (they depend on the sources alone), then the
        recursion frame after frame."""
        _, _, height, width = edited.shape
        source_u8 = torch.from_numpy(np.ascontiguousarray(sources)).to(edited.device).permute(0, 3, 1, 2)
        source = source_u8.float()
        self._forget_other((3, height, width), edited.device)
        past = (self._gray, self._source) if self._source is not None else None
        carry = carry_along_motion(
            self._dis, source_u8, source, past, self.strength, self.tolerance, self.flow_width, known
        )
        out = follow(edited, self._out, carry)
        self._gray, self._source, self._out = carry.grays[-1], source[-1], out[-1]
        return out

    def _weight(self, mismatch, exp):
        return self.strength * exp(-((mismatch / self.tolerance) ** 2))

    def _forget_other(self, shape: tuple[int, int, int], device: torch.device | None) -> None:
        """Start afresh if the past is of another frame size, or kept by the other path (``device`` None: the
        CPU path's arrays)."""
        if self._out is None:
            return
        if device is None:
            kept = isinstance(self._out, np.ndarray)
        else:
            kept = isinstance(self._out, Tensor) and self._out.device == device
        if not kept or tuple(self._out.shape) != shape:
            self.reset()
