"""Still images to videos: a smooth synthetic camera move (pan, zoom or a small roll) over the image.

The view is a rectangle with the output's aspect ratio, placed in image pixels by its centre, its size relative to
the largest such rectangle that fits (``scale``) and its rotation; every view of the path stays inside the image,
so no frame shows a border. Motion eases in and out (a half cosine), so speed is zero at both ends.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from sana_streaming.io.frames import VideoError, check_size, to_uint8_rgb
from sana_streaming.io.transform import resize

CAMERA_KINDS = ("pan", "zoom", "rotate")


@dataclass(frozen=True)
class CameraPath:
    """Per-frame view of a synthetic camera over an image of ``image_size``.

    Attributes:
        kind: "pan", "zoom" or "rotate".
        center: (T, 2) float64 view centre (x, y) in image pixels (pixel edges at integers).
        scale: (T,) float64 view size relative to the largest view of the output's aspect that fits the image.
        angle: (T,) float64 view rotation in radians.
        base: (width, height) of that largest view, in image pixels.
    """

    kind: str
    center: np.ndarray
    scale: np.ndarray
    angle: np.ndarray
    base: tuple[float, float]


def camera_path(
    num_frames: int,
    image_size: tuple[int, int],
    size: tuple[int, int],
    rng: np.random.Generator,
    *,
    kinds: Sequence[str] = CAMERA_KINDS,
) -> CameraPath:
    """Draw a random smooth camera path.

    Args:
        num_frames: T >= 1.
        image_size: (width, height) of the still image.
        size: (width, height) of the output frames (sets the view's aspect ratio).
        rng: the only source of randomness (kind and motion).
        kinds: the kinds to pick from.
    """
    _check_kinds(kinds)
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
        raise VideoError(f"num_frames must be a positive int, got {num_frames!r}")
    image_w, image_h = image_size
    out_w, out_h = check_size(size)
    base_w = min(image_w, image_h * out_w / out_h)
    base = (base_w, base_w * out_h / out_w)
    kind = str(rng.choice(list(kinds)))
    ease = _ease(num_frames)
    scale, angle, where = _motion(kind, ease, base, (image_w, image_h), rng)
    # Room for the largest tilt of the path at every frame: a per-frame room would jerk the centre as it rolls.
    half_x, half_y = _rotated_half_extents(scale, np.full_like(angle, np.abs(angle).max()), base)
    # `where` in [0, 1]^2 places the centre inside the range that keeps the rotated view within the image.
    center = np.stack(
        [half_x + where[:, 0] * (image_w - 2 * half_x), half_y + where[:, 1] * (image_h - 2 * half_y)], axis=1
    )
    return CameraPath(kind, center, scale, angle, base)


def _motion(kind, ease, base, image_size, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scale, angle, where) per frame for one kind of move; ``ease`` runs 0 -> 1."""
    steps = np.ones_like(ease)
    if kind == "pan":
        heading = rng.uniform(0.0, 2.0 * math.pi)
        reach = rng.uniform(0.6, 1.0)  # fraction of the free room the pan crosses
        direction = np.array([math.cos(heading), math.sin(heading)])
        where = 0.5 + reach * (ease[:, None] - 0.5) * direction
        return steps * rng.uniform(0.6, 0.8), steps * 0.0, where  # |direction| <= 1 keeps where in [0, 1]
    where = np.tile(rng.uniform(0.3, 0.7, size=2), (ease.shape[0], 1))
    if kind == "zoom":
        wide, close = rng.uniform(0.9, 1.0), rng.uniform(0.55, 0.75)
        if rng.random() < 0.5:  # zoom out instead of in
            wide, close = close, wide
        return wide + (close - wide) * ease, steps * 0.0, where
    limit = math.radians(rng.uniform(2.0, 6.0)) * (1.0 if rng.random() < 0.5 else -1.0)
    angle = limit * (2.0 * ease - 1.0)
    fit = _largest_scale(abs(limit), base, image_size)
    return steps * 0.95 * fit, angle, where


def _ease(num_frames: int) -> np.ndarray:
    """(T,) progress from 0 to 1 with zero speed at both ends (a single frame sits at 0)."""
    if num_frames == 1:
        return np.zeros(1)
    t = np.linspace(0.0, 1.0, num_frames)
    return (1.0 - np.cos(math.pi * t)) / 2.0


def _rotated_half_extents(scale, angle, base) -> tuple[np.ndarray, np.ndarray]:
    """Half width and half height of the axis-aligned box around each rotated view."""
    half_w, half_h = scale * base[0] / 2.0, scale * base[1] / 2.0
    cos, sin = np.abs(np.cos(angle)), np.abs(np.sin(angle))
    return half_w * cos + half_h * sin, half_w * sin + half_h * cos


def _largest_scale(angle: float, base, image_size) -> float:
    """Largest scale at which a view rotated by ``angle`` still fits inside the image."""
    cos, sin = math.cos(angle), math.sin(angle)
    return min(
        image_size[0] / (base[0] * cos + base[1] * sin),
        image_size[1] / (base[0] * sin + base[1] * cos),
    )


def render_path(image: np.ndarray, path: CameraPath, size: tuple[int, int]) -> np.ndarray:
    """Sample every view of ``path`` from ``image``.

    Args:
        image: (H, W, 3) uint8 RGB, the image the path was drawn for.
        size: (width, height) of the output.

    Returns:
        (T, height, width, 3) uint8: bicubic samples of the (antialiased, if the views are larger) image.
    """
    out_w, out_h = check_size(size)
    image_h, image_w = image.shape[:2]
    # Sampling a view larger than the output without a low-pass filter aliases, and aliasing flickers as the
    # camera moves: shrink the image first so the largest view maps at most 1:1 onto the output.
    shrink = min(1.0, out_w / (float(path.scale.max()) * path.base[0]))
    if shrink < 1.0:
        image = resize(image, (max(1, round(image_w * shrink)), max(1, round(image_h * shrink))))
    # Normalised coordinates are relative to the image's extent, so the grid holds for the shrunk image too.
    grid = _sampling_grid(path, (out_w, out_h), (image_w, image_h))  # (T, h, w, 2)
    pixels = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
    # One tall grid samples every frame in one call without copying the image per frame.
    tall = grid.reshape(1, -1, out_w, 2)
    frames = F.grid_sample(pixels, tall, mode="bicubic", padding_mode="border", align_corners=False)
    frames = frames.clamp_(0.0, 255.0).round_().to(torch.uint8)[0]  # (3, T * h, w)
    return np.ascontiguousarray(frames.reshape(3, -1, out_h, out_w).permute(1, 2, 3, 0).numpy())


def _sampling_grid(path: CameraPath, size: tuple[int, int], image_size: tuple[int, int]) -> torch.Tensor:
    """(T, h, w, 2) float32 grid_sample coordinates (x, y in [-1, 1], align_corners=False) of each output pixel."""
    out_w, out_h = size
    u = (np.arange(out_w) + 0.5) / out_w - 0.5  # output pixel centres, -0.5 .. 0.5 across the view
    v = (np.arange(out_h) + 0.5) / out_h - 0.5
    view_w = (path.scale * path.base[0])[:, None, None]
    view_h = (path.scale * path.base[1])[:, None, None]
    cos, sin = np.cos(path.angle)[:, None, None], np.sin(path.angle)[:, None, None]
    dx, dy = u[None, None, :] * view_w, v[None, :, None] * view_h
    x = path.center[:, 0, None, None] + cos * dx - sin * dy
    y = path.center[:, 1, None, None] + sin * dx + cos * dy
    grid = np.stack([2.0 * x / image_size[0] - 1.0, 2.0 * y / image_size[1] - 1.0], axis=-1)
    return torch.from_numpy(grid.astype(np.float32))


def camera_path_video(
    image: np.ndarray,
    num_frames: int,
    size: tuple[int, int],
    rng: np.random.Generator,
    *,
    kinds: Sequence[str] = CAMERA_KINDS,
) -> np.ndarray:
    """A video of a smooth synthetic camera move over a still image.

    Args:
        image: (H, W, 3) uint8 RGB (or anything :func:`to_uint8_rgb` reads as one frame).
        num_frames: T >= 1.
        size: (width, height) of the output frames.
        rng: draws the kind of move and its parameters (once per call: the path is smooth in time).
        kinds: which moves to pick from: "pan", "zoom", "rotate".

    Returns:
        (T, height, width, 3) uint8 RGB.
    """
    clip = to_uint8_rgb(image)
    if clip.shape[0] != 1:
        raise VideoError(f"camera_path_video needs one image, got {clip.shape[0]} frames")
    still = clip[0]
    path = camera_path(num_frames, (still.shape[1], still.shape[0]), size, rng, kinds=kinds)
    return render_path(still, path, size)


def _check_kinds(kinds: Sequence[str]) -> None:
    if isinstance(kinds, str) or not kinds or any(kind not in CAMERA_KINDS for kind in kinds):
        raise VideoError(f"camera kinds must be a non-empty list from {', '.join(CAMERA_KINDS)}, got {kinds!r}")
