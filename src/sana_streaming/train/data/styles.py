"""The classical edits themselves: one pure function per family, (T, 3, H, W) float32 in [0, 1] -> same shape.

Results may leave [0, 1] slightly; the caller clamps. Parameters come from :mod:`edits` (names and ranges there).
Every function treats frames independently with fixed kernels, so a static clip gives a static edit.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from sana_streaming.train.data.filters import (
    contrast,
    gaussian_blur,
    luma,
    palette_map,
    pixelate,
    quantize,
    saturate,
    smoothstep,
    sobel_magnitude,
    static_noise,
    vignette,
)

Params = Mapping[str, float]

# The classic sepia toning matrix (rows: output R, G, B).
_SEPIA = ((0.393, 0.769, 0.189), (0.349, 0.686, 0.168), (0.272, 0.534, 0.131))
# "Ironbow" thermal palette, cold to hot.
_IRONBOW = (
    (0.0, 0.0, 0.0),
    (0.12, 0.0, 0.45),
    (0.55, 0.0, 0.55),
    (0.9, 0.15, 0.05),
    (1.0, 0.55, 0.0),
    (1.0, 0.9, 0.2),
    (1.0, 1.0, 0.95),
)


def black_and_white(x: torch.Tensor, p: Params) -> torch.Tensor:
    """Channel-mixer monochrome (like shooting B&W film through a colour filter), with a contrast boost."""
    weights = (p["red"], p["green"], 1.0 - p["red"] - p["green"])
    gray = contrast(luma(x, weights), p["contrast"])
    return gray.expand(-1, 3, -1, -1).contiguous()


def pencil_sketch(x: torch.Tensor, p: Params) -> torch.Tensor:
    """Colour-dodge sketch: gray divided by its blur leaves white flats and dark strokes along edges."""
    gray = luma(x)
    # gray / (1 - blur(1 - gray)) is the photographic "dodge"; the blur is linear, so the divisor is blur(gray).
    lines = (gray / gaussian_blur(gray, p["sigma"]).clamp_min(1e-3)).clamp(max=1.0) ** p["darkness"]
    shaded = lines * (1.0 - p["shading"] * (1.0 - gray))
    paper = torch.tensor([1.0, 1.0 - 0.4 * p["warmth"], 1.0 - p["warmth"]]).view(1, 3, 1, 1)
    return shaded * paper


def cartoon(x: torch.Tensor, p: Params) -> torch.Tensor:
    """Flat shading bands of unchanged hue, boosted colour, dark outlines on strong luminance edges."""
    smooth = gaussian_blur(x, p["smooth"])
    # Banding the value (max channel) and rescaling all channels keeps hues; per-channel bands would shift them.
    value = smooth.amax(dim=1, keepdim=True).clamp_min(1e-3)
    flat = saturate(smooth * (quantize(value, max(2, int(p["levels"]))) / value), p["saturation"])
    edges = sobel_magnitude(gaussian_blur(luma(x), 1.0))
    line = smoothstep(p["edge_threshold"], p["edge_threshold"] + 0.06, edges)
    return flat * (1.0 - line)


def watercolor(x: torch.Tensor, p: Params) -> torch.Tensor:
    """Soft flat washes of unchanged hue, darker rims where washes meet, paper showing through, pigment settling
    into the paper grain."""
    wash = saturate(gaussian_blur(x, p["sigma"]), p["saturation"])
    value = wash.amax(dim=1, keepdim=True).clamp_min(1e-3)
    banded = gaussian_blur(wash * (quantize(value, max(2, int(p["levels"]))) / value), 1.0)
    pooled = banded + p["edge"] * (banded - gaussian_blur(banded, 2.0 * p["sigma"]))
    pigment = (1.0 - pooled) * p["density"]
    # The grain belongs to the paper, not the scene: tied to pixel positions, it never moves with the content.
    grain = static_noise(x.shape[-2], x.shape[-1], int(p["paper_seed"]), 2.5)
    return 1.0 - pigment * (1.0 + p["grain"] * grain)


def night(x: torch.Tensor, p: Params) -> torch.Tensor:
    """Day for night: desaturated, crushed, under-exposed, blue, darker towards the corners."""
    dark = saturate(x, p["saturation"]).clamp_min(0.0) ** p["gamma"] * p["exposure"]
    tint = torch.tensor([1.0 - p["blue"], 1.0 - 0.5 * p["blue"], 1.0 + p["blue"]]).view(1, 3, 1, 1)
    return dark * tint * vignette(x.shape[-2], x.shape[-1], p["vignette"])


def sepia_film(x: torch.Tensor, p: Params) -> torch.Tensor:
    """Sepia toning, lifted (faded) blacks and a vignette: an old photograph."""
    toned = torch.einsum("ij,njhw->nihw", torch.tensor(_SEPIA), x)
    mixed = contrast(x + p["strength"] * (toned - x), p["contrast"])
    faded = p["fade"] + (1.0 - p["fade"]) * mixed
    return faded * vignette(x.shape[-2], x.shape[-1], p["vignette"])


def warm_grading(x: torch.Tensor, p: Params) -> torch.Tensor:
    """Shift the white balance towards orange."""
    t = p["temperature"]
    gain = torch.tensor([1.0 + t, 1.0 + 0.3 * t, 1.0 - t]).view(1, 3, 1, 1)
    return saturate(x * gain, p["saturation"])


def cool_grading(x: torch.Tensor, p: Params) -> torch.Tensor:
    """Shift the white balance towards blue-teal."""
    t = p["temperature"]
    gain = torch.tensor([1.0 - t, 1.0 + 0.15 * t, 1.0 + t]).view(1, 3, 1, 1)
    return saturate(x * gain, p["saturation"])


def invert(x: torch.Tensor, p: Params) -> torch.Tensor:
    """Colour negative (amount 1 is the exact negative)."""
    return x + p["amount"] * (1.0 - 2.0 * x)


def posterize(x: torch.Tensor, p: Params) -> torch.Tensor:
    """Pop-art poster: vivid, contrasty, a few flat levels per channel."""
    vivid = contrast(saturate(x, p["saturation"]), p["contrast"])
    return quantize(vivid, max(2, int(p["levels"])))


def blur(x: torch.Tensor, p: Params) -> torch.Tensor:
    """Gaussian defocus."""
    return gaussian_blur(x, p["sigma"])


def sharpen(x: torch.Tensor, p: Params) -> torch.Tensor:
    """Unsharp mask."""
    return x + p["amount"] * (x - gaussian_blur(x, p["sigma"]))


def pixelate_blocks(x: torch.Tensor, p: Params) -> torch.Tensor:
    """Mosaic of flat square cells."""
    return pixelate(x, max(1, int(p["block"])))


def thermal(x: torch.Tensor, p: Params) -> torch.Tensor:
    """False-colour heat map of brightness (a thermal camera look)."""
    heat = contrast(luma(x).clamp(0.0, 1.0) ** p["gamma"], p["contrast"])
    return palette_map(heat, torch.tensor(_IRONBOW))
