"""Image-processing primitives for the classical edits: pure tensor math on (N, C, H, W) float32 clips in [0, 1].

Every function is per-frame (frames never mix), uses fixed kernels and edge replication, so it works on any
size, odd or tiny, and a static clip stays static.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

# BT.601 luma weights: what "black and white" conventionally means for sRGB photos.
LUMA = (0.299, 0.587, 0.114)


def to_float(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, H, W) float32 in [0, 1]."""
    clip = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
    return clip.float().div_(255.0).contiguous()


def to_uint8(clip: torch.Tensor) -> np.ndarray:
    """(T, 3, H, W) float (any range; clamped to [0, 1]) -> (T, H, W, 3) uint8, C-contiguous, rounded."""
    pixels = clip.clamp(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)
    return np.ascontiguousarray(pixels.permute(0, 2, 3, 1).numpy())


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (radius ceil(3 sigma)), edges replicated.

    Args:
        x: (N, C, H, W) float32.
        sigma: standard deviation in pixels; <= 0 returns a copy.

    Returns:
        (N, C, H, W) float32.
    """
    if sigma <= 0:
        return x.clone()
    radius = math.ceil(3.0 * sigma)
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-(taps**2) / (2.0 * sigma**2))
    kernel /= kernel.sum()
    height, width = x.shape[-2:]
    # Each pass is one matrix product with a banded matrix: BLAS runs it several times faster than conv2d or
    # shifted adds on CPU, whatever sigma, and every row is computed the same way whatever the batch.
    rows = x @ _band_matrix(width, kernel).T
    return _band_matrix(height, kernel) @ rows


def _band_matrix(length: int, kernel: np.ndarray) -> torch.Tensor:
    """(L, L) float32 matrix M with (M @ v)[i] = sum_o kernel[o] * v[clamp(i + o - r, 0, L - 1)]."""
    radius = len(kernel) // 2
    matrix = np.zeros((length, length), np.float64)
    index = np.arange(length)
    for offset, weight in enumerate(kernel):
        np.add.at(matrix, (index, np.clip(index + offset - radius, 0, length - 1)), weight)
    return torch.from_numpy(matrix.astype(np.float32))


def luma(x: torch.Tensor, weights: tuple[float, float, float] = LUMA) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) weighted channel sum (weights should add up to 1)."""
    red, green, blue = weights
    return red * x[:, 0:1] + green * x[:, 1:2] + blue * x[:, 2:3]


def saturate(x: torch.Tensor, amount: float) -> torch.Tensor:
    """Scale colourfulness: 0 gives gray, 1 the input, > 1 more vivid. (N, 3, H, W) -> (N, 3, H, W)."""
    gray = luma(x)
    return gray + amount * (x - gray)


def contrast(x: torch.Tensor, amount: float, pivot: float = 0.5) -> torch.Tensor:
    """Stretch values away from ``pivot`` by ``amount``."""
    return pivot + amount * (x - pivot)


def quantize(x: torch.Tensor, levels: int) -> torch.Tensor:
    """Round every value to one of ``levels`` evenly spaced values in [0, 1] (levels >= 2)."""
    steps = levels - 1
    return torch.round(x.clamp(0.0, 1.0) * steps) / steps


def sobel_magnitude(gray: torch.Tensor) -> torch.Tensor:
    """Gradient magnitude of (N, 1, H, W) with 3x3 Sobel kernels, edges replicated; same shape."""
    padded = F.pad(gray, (1, 1, 1, 1), mode="replicate")
    height, width = gray.shape[-2:]

    def tap(dy: int, dx: int) -> torch.Tensor:
        return padded[..., 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]

    grad_x = (tap(-1, 1) + 2 * tap(0, 1) + tap(1, 1)) - (tap(-1, -1) + 2 * tap(0, -1) + tap(1, -1))
    grad_y = (tap(1, -1) + 2 * tap(1, 0) + tap(1, 1)) - (tap(-1, -1) + 2 * tap(-1, 0) + tap(-1, 1))
    return torch.sqrt(grad_x**2 + grad_y**2) / 4.0  # /4: a unit step reads as 1


def smoothstep(low: float, high: float, x: torch.Tensor) -> torch.Tensor:
    """0 below ``low``, 1 above ``high``, a smooth cubic ramp between."""
    t = ((x - low) / max(high - low, 1e-6)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def vignette(height: int, width: int, strength: float) -> torch.Tensor:
    """(1, 1, H, W) multiplier: 1 at the centre falling to 1 - strength in the corners (quadratic in radius)."""
    ys = torch.linspace(-1.0, 1.0, height).view(1, 1, height, 1)
    xs = torch.linspace(-1.0, 1.0, width).view(1, 1, 1, width)
    radius2 = (xs**2 + ys**2) / 2.0  # 1 in the corners
    return 1.0 - strength * radius2


def pixelate(x: torch.Tensor, block: int) -> torch.Tensor:
    """Average ``block`` x ``block`` cells (anchored top-left; partial cells at the right and bottom edges are
    averaged over the pixels they have) and fill each cell with its mean. (N, C, H, W) -> same shape."""
    height, width = x.shape[-2:]
    pad_h, pad_w = (-height) % block, (-width) % block
    padded = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    cells = F.avg_pool2d(padded, block)
    full = cells.repeat_interleave(block, dim=-2).repeat_interleave(block, dim=-1)
    return full[..., :height, :width].contiguous()


def static_noise(height: int, width: int, seed: int, sigma: float) -> torch.Tensor:
    """(1, 1, H, W) smooth noise with unit standard deviation, fixed by ``seed``: a texture that does not move.

    numpy's PCG64 stream is stable across versions, so a recorded seed reproduces the texture elsewhere.
    """
    white = np.random.default_rng(seed).standard_normal((1, 1, height, width), dtype=np.float32)
    noise = gaussian_blur(torch.from_numpy(white), sigma)
    return (noise - noise.mean()) / noise.std(correction=0).clamp_min(1e-6)


def palette_map(value: torch.Tensor, stops: torch.Tensor) -> torch.Tensor:
    """Map (N, 1, H, W) values in [0, 1] through evenly spaced colour stops (K, 3), linear in between.

    Returns:
        (N, 3, H, W) float32.
    """
    num_stops = stops.shape[0]
    position = value.clamp(0.0, 1.0) * (num_stops - 1)
    lower = position.floor().clamp(max=num_stops - 2).long()
    frac = position - lower
    colors_low = stops[lower.squeeze(1)].permute(0, 3, 1, 2)  # (N, 3, H, W)
    colors_high = stops[(lower + 1).squeeze(1)].permute(0, 3, 1, 2)
    return colors_low + frac * (colors_high - colors_low)
