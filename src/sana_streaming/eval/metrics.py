"""Video edit metrics on uint8 RGB clips (T, H, W, 3): temporal warp error, flicker, chunk-boundary jumps,
and fidelity to a reference edit (PSNR, SSIM).

Motion comes from the *source* clip (the edit should move as the source moves): dense optical flow by
OpenCV's DIS (medium preset, deterministic, offline; Farneback's polynomial expansion as a second, independent
estimator: ``flow="farneback"``), with occlusions masked by a forward-backward check.
For the transition t -> t+1, ``backward[t]`` gives, for every pixel p of frame t+1, the displacement to where
it was in frame t; frame t warped to t+1 samples frame t at p + backward[t](p).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # BT.601
OCCLUSION_ALPHA, OCCLUSION_BETA = 0.01, 0.5  # forward-backward consistency (squared pixels)
LOW_PASS_FACTOR = 8  # the low-pass image: area-averaged to 1/8 of the size
FLOWS = ("dis", "farneback")  # the flow estimators the warp error can follow


def luma(frames: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) uint8 -> (..., H, W) float32 on the 0-255 scale."""
    return frames.astype(np.float32) @ LUMA


def optical_flow(first: np.ndarray, second: np.ndarray, method: str = "dis") -> np.ndarray:
    """Dense flow (H, W, 2) float32 (x, y) from ``first`` to ``second`` (RGB uint8 frames):
    first(p) ~ second(p + flow(p)). ``method``: "dis" (DIS, medium preset) or "farneback" (5 pyramid levels,
    15-pixel windows, 3 iterations)."""
    gray = [np.clip(luma(f), 0, 255).astype(np.uint8) for f in (first, second)]
    if method == "dis":
        return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(gray[0], gray[1], None)
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(gray[0], gray[1], None, 0.5, 5, 15, 3, 5, 1.2, 0)
    raise ValueError(f"flow must be one of {', '.join(FLOWS)}, got {method!r}")


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``image`` (H, W, C) at p + flow(p), bilinearly (edges repeated); float32."""
    height, width = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(
        image.astype(np.float32),
        xs + flow[..., 0],
        ys + flow[..., 1],
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def visible(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels of frame t+1 whose backward flow is undone by the forward flow where it lands
    (|b + f(p + b)|² < alpha (|b|² + |f(p + b)|²) + beta); the rest are occluded or unreliable."""
    landed = warp(forward, backward)
    mismatch = np.square(backward + landed).sum(-1)
    scale = np.square(backward).sum(-1) + np.square(landed).sum(-1)
    return mismatch < OCCLUSION_ALPHA * scale + OCCLUSION_BETA


@dataclass(frozen=True)
class SourceMotion:
    """Flow of every transition of the source clip: ``backward`` (T-1, H, W, 2) and ``mask`` (T-1, H, W)."""

    backward: np.ndarray
    mask: np.ndarray

    @classmethod
    def of(cls, frames: np.ndarray, progress=None, method: str = "dis") -> SourceMotion:
        """The motion of ``frames`` (T, H, W, 3) uint8 by the flow ``method`` (:func:`optical_flow`)."""
        backward, masks = [], []
        for t in range(len(frames) - 1):
            back = optical_flow(frames[t + 1], frames[t], method)
            masks.append(visible(back, optical_flow(frames[t], frames[t + 1], method)))
            backward.append(back)
            if progress is not None:
                progress.update(1)
        height, width = frames.shape[1:3]
        if not backward:
            return cls(np.zeros((0, height, width, 2), np.float32), np.zeros((0, height, width), bool))
        return cls(np.stack(backward), np.stack(masks))

    def first(self, frames: int) -> SourceMotion:
        """The motion of the clip's first ``frames`` frames (a reconstruction of whole chunks may be shorter)."""
        return SourceMotion(self.backward[: max(frames - 1, 0)], self.mask[: max(frames - 1, 0)])


def warp_errors(frames: np.ndarray, motion: SourceMotion) -> np.ndarray:
    """(T-1,) mean absolute difference (0-255, over channels and visible pixels) between frame t+1 and frame t
    warped to t+1 along the source's motion."""
    errors = np.empty(len(motion.backward), np.float64)
    for t, (back, mask) in enumerate(zip(motion.backward, motion.mask, strict=True)):
        diff = np.abs(frames[t + 1].astype(np.float32) - warp(frames[t], back))
        errors[t] = diff[mask].mean() if mask.any() else np.nan
    return errors


def scene_cuts(source_warp_errors: np.ndarray, factor: float = 5.0, floor: float = 20.0) -> np.ndarray:
    """Transitions where the source itself cannot be followed by its flow (a cut): a warp error over
    ``factor`` times the median and over ``floor`` (0-255)."""
    errors = np.asarray(source_warp_errors, np.float64)
    if not errors.size:
        return np.zeros(0, np.int64)
    limit = max(floor, factor * float(np.nanmedian(errors)))
    return np.flatnonzero(np.nan_to_num(errors, nan=0.0) > limit)


def brightness(frames: np.ndarray) -> np.ndarray:
    """(T,) mean luma of each frame (0-255)."""
    return luma(frames).reshape(len(frames), -1).mean(1).astype(np.float64)


def low_pass_changes(frames: np.ndarray) -> np.ndarray:
    """(T-1,) mean absolute change of the low-pass luma image (area-averaged to 1/8 size) between frames."""
    height, width = frames.shape[1:3]
    size = (max(1, width // LOW_PASS_FACTOR), max(1, height // LOW_PASS_FACTOR))
    small = np.stack([cv2.resize(luma(f), size, interpolation=cv2.INTER_AREA) for f in frames])
    return np.abs(np.diff(small, axis=0)).reshape(len(frames) - 1, -1).mean(1).astype(np.float64)


def chunk_transitions(num_frames: int, first_chunk: int = 33, chunk: int = 24) -> np.ndarray:
    """Indices t of the transitions t -> t+1 that cross a chunk boundary (t+1 starts a chunk)."""
    starts = np.arange(first_chunk, num_frames, chunk)
    return starts - 1


def jump_ratio(changes: np.ndarray, boundaries: np.ndarray) -> float:
    """Mean change across chunk boundaries over the mean change within chunks (1 = no visible seams); NaN
    without boundaries, inf when nothing changes within chunks but something does across them."""
    changes = np.asarray(changes, np.float64)
    at = np.zeros(len(changes), bool)
    at[boundaries[boundaries < len(changes)]] = True
    if not at.any() or at.all():
        return float("nan")
    across, within = np.nanmean(changes[at]), np.nanmean(changes[~at])
    if within == 0:
        return float("inf") if across > 0 else 1.0
    return float(across / within)


def by_latent_position(values: np.ndarray, temporal: int) -> np.ndarray:
    """(temporal,) mean of per-frame ``values`` by a frame's place among the ``temporal`` frames of its latent
    frame (a causal VAE's frame 0 has a latent frame of its own and is left out; frames 1..temporal share the
    next one, and so on). A VAE whose error depends on that place shows it here (NaN where no frame falls)."""
    values = np.asarray(values, np.float64)[1:]
    place = np.arange(len(values)) % temporal
    return np.array([values[place == k].mean() if (place == k).any() else np.nan for k in range(temporal)])


def psnr(frames: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(T,) PSNR in dB per frame (peak 255; inf for identical frames)."""
    mse = np.square(frames.astype(np.float64) - reference.astype(np.float64)).reshape(len(frames), -1).mean(1)
    with np.errstate(divide="ignore"):
        return 10 * np.log10(255.0**2 / mse)


def ssim(frames: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(T,) SSIM per frame on luma: Gaussian window (11 x 11, sigma 1.5), K1 = 0.01, K2 = 0.03, peak 255,
    averaged over the whole image (borders by reflection)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    out = np.empty(len(frames), np.float64)
    for t, (x, y) in enumerate(zip(luma(frames).astype(np.float64), luma(reference).astype(np.float64), strict=True)):

        def blur(image):
            return cv2.GaussianBlur(image, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

        mx, my = blur(x), blur(y)
        vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
        index = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        out[t] = index.mean()
    return out
