"""Source-guided refinement of the edit: the edit redrawn as local affine colour maps of the source.

In every window of the frame the edit is fitted, by least squares, as an affine function of the source's RGB
(``edit ~ A @ source + b``, with a ridge ``eps`` on ``A``); the maps of the windows that cover a pixel are averaged
and applied to the source there. This is the guided filter of He, Sun and Tang (ECCV 2010, TPAMI 2013) with the
source as the guide, computed on a downscaled frame and applied at full size (He and Sun, "Fast Guided Filter",
2015), the idea of guided upsampling of edits. A small model's edit, decoded through a VAE, is blurred and
flickers from frame to frame; an edit that is locally a colour map of the source (grading, black and white,
sepia, inversion) comes back with the source's sharpness and steadiness, and the maps average the decoder's
noise over the window. Edits that are not locally affine in colour (strong stylisation, or content that the
source does not have: "remove the car") lose their detail to the source's within a window: turn it off there
(radius 0).

The radius is a fraction of the frame's width, so that the same setting does the same at every resolution;
``eps`` is on the 0-255 scale squared: the larger, the flatter the maps (no more than the window's mean edit
where the source varies by less than about ``sqrt(eps)``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from sana_streaming.engine.stabilize import carry_along_motion, flow_estimator, follow

_COARSE_RADIUS = 4  # the window's radius in pixels of the downscaled frame the maps are fitted on


def box_mean(x: Tensor, radius: int) -> Tensor:
    """(N, ..., H, W) -> the mean over each pixel's (2r+1)^2 window, cut at the frame's edges (as many pixels as
    fall inside): a mean over rows, then over columns. Its cost grows with the radius: the refiner keeps it at
    a few pixels of a downscaled frame."""
    flat = x.flatten(1, -3) if x.dim() > 4 else x
    size = 2 * radius + 1
    rows = F.avg_pool2d(flat, (size, 1), stride=1, padding=(radius, 0), count_include_pad=False)
    return F.avg_pool2d(rows, (1, size), stride=1, padding=(0, radius), count_include_pad=False).view(x.shape)


def guided_filter(guide: Tensor, image: Tensor, radius: int, eps: float) -> Tensor:
    """The guided filter with a 3-channel guide: ``guide`` (N, 3, H, W) and ``image`` (N, C, H, W), float ->
    (N, C, H, W), each window's ridge-regularised affine map of the guide's channels onto the image's, averaged
    over the windows covering a pixel. ``radius`` in pixels; ``eps`` in the frames' units squared."""
    maps, offset = _affine_maps(guide, image, radius, eps)
    return _apply(maps, offset, guide)


def _affine_maps(guide: Tensor, image: Tensor, radius: int, eps: float) -> tuple[Tensor, Tensor]:
    """Per pixel, the windows' mean map (N, 3, C, H, W; guide channel first) and offset (N, C, H, W)."""
    guide, image = guide.float(), image.float()
    mean_guide, mean_image = box_mean(guide, radius), box_mean(image, radius)
    pairs = [(i, j) for i in range(3) for j in range(i, 3)]
    products = torch.stack([guide[:, i] * guide[:, j] for i, j in pairs], 1)
    covariance = box_mean(products, radius) - torch.stack([mean_guide[:, i] * mean_guide[:, j] for i, j in pairs], 1)
    sigma = {pair: covariance[:, n] for n, pair in enumerate(pairs)}
    inverse = _symmetric_inverse(sigma, eps)  # (N, 3, 3, H, W)
    cross = box_mean(guide[:, :, None] * image[:, None], radius) - mean_guide[:, :, None] * mean_image[:, None]
    maps = torch.einsum("nijhw,njchw->nichw", inverse, cross)  # (N, 3, C, H, W)
    offset = mean_image - torch.einsum("nihw,nichw->nchw", mean_guide, maps)
    return box_mean(maps, radius), box_mean(offset, radius)


def _symmetric_inverse(sigma: dict[tuple[int, int], Tensor], eps: float) -> Tensor:
    """(Sigma + eps I)^-1 of the per-pixel symmetric 3x3 ``sigma`` (entries (i, j), i <= j) by cofactors."""
    a, b, c = sigma[0, 0] + eps, sigma[0, 1], sigma[0, 2]
    d, e, f = sigma[1, 1] + eps, sigma[1, 2], sigma[2, 2] + eps
    cof = [d * f - e * e, c * e - b * f, b * e - c * d, a * f - c * c, b * c - a * e, a * d - b * b]
    det = a * cof[0] + b * cof[1] + c * cof[2]
    rows = [[cof[0], cof[1], cof[2]], [cof[1], cof[3], cof[4]], [cof[2], cof[4], cof[5]]]
    return torch.stack([torch.stack(row, 1) for row in rows], 1) / det[:, None, None]


def _apply(maps: Tensor, offset: Tensor, guide: Tensor) -> Tensor:
    """sum_i maps[:, i, c] * guide[:, i] + offset[:, c], one multiply-add at a time (no large temporaries)."""
    out = offset.clone()
    guide = guide.float()
    for i in range(3):
        for c in range(out.shape[1]):
            out[:, c].addcmul_(maps[:, i, c], guide[:, i])
    return out


class GuidedRefiner:
    """The refinement of :mod:`this module <sana_streaming.engine.guide>` for one stream's frames, in order;
    :meth:`reset` between streams.

    Args:
        radius: the window's radius as a fraction of the frame's width (0.02: 8 pixels of a 384-wide frame, the
            default model's); 0 turns it off.
        eps: the maps' ridge, on the 0-255 scale squared.
        steady: the largest weight, in [0, 1), of the previous frame's maps carried along the source's motion
            (DIS flow, as :class:`~sana_streaming.engine.stabilize.TemporalStabilizer` follows it) in each
            frame's maps; 0: every frame's maps its own. The maps, not the pixels, are filtered: the detail stays
            the current source's, the edit's flicker through the fit averages out.
        tolerance: the source mismatch (0-255) at which that weight has fallen to ``steady / e``.
        flow_width: frames wider than this are downscaled for the flow.
        flow_preset: the flow's DIS preset (:data:`~sana_streaming.engine.stabilize.FLOW_PRESETS`).

    Attributes:
        flows: with ``steady``, the last call's flows, one a frame (source to previous source, at most
            ``flow_width`` wide; None for a stream's first frame): the temporal filter of the same stream takes them
            instead of computing them again (:meth:`~sana_streaming.engine.stabilize.TemporalStabilizer.chunk`).
    """

    def __init__(
        self,
        radius: float = 0.02,
        eps: float = 25.0,
        steady: float = 0.0,
        tolerance: float = 20.0,
        flow_width: int = 384,
        flow_preset: str = "ultrafast",
    ) -> None:
        if not 0 <= radius <= 1:
            raise ValueError(f"guide radius must be a fraction of the width within [0, 1], got {radius!r}")
        if not eps > 0:
            raise ValueError(f"guide eps must be > 0, got {eps!r}")
        if not 0 <= steady < 1:
            raise ValueError(f"guide steadiness must be within [0, 1), got {steady!r}")
        if not tolerance > 0:
            raise ValueError(f"guide tolerance must be > 0, got {tolerance!r}")
        self.radius, self.eps, self.steady, self.tolerance = float(radius), float(eps), float(steady), float(tolerance)
        self.flow_width = int(flow_width)
        self._dis = flow_estimator(flow_preset)  # used with steady maps only; a bad preset fails here either way
        self.reset()

    def reset(self) -> None:
        """Forget the past (a new stream): the previous frame's luma, coarse source and filtered maps."""
        self._past: tuple[np.ndarray, Tensor, Tensor] | None = None
        self.flows: list[np.ndarray | None] = []  # the last call's flows (steady maps only): see _steadied

    def __call__(self, sources: Tensor, edited: Tensor) -> Tensor:
        """``sources`` (T, 3, H, W) uint8 and ``edited`` (T, 3, H, W) on the 0-255 scale (one device), the stream's
        next frames -> the refined edits, float32, not clipped."""
        if sources.shape != edited.shape:
            raise ValueError(f"guide: sources {tuple(sources.shape)} and edits {tuple(edited.shape)} differ")
        if not self.radius:
            return edited.float()
        height, width = edited.shape[-2:]
        pixels = self.radius * width  # the radius in the frame's pixels
        scale = max(1, round(pixels / _COARSE_RADIUS))  # the downscale that leaves about 4 coarse pixels
        guide, image = sources.float(), edited.float()
        if scale > 1:
            size = (max(1, round(height / scale)), max(1, round(width / scale)))
            coarse_guide = F.interpolate(guide, size=size, mode="area")
            coarse_image = F.interpolate(image, size=size, mode="area")
        else:
            coarse_guide, coarse_image = guide, image
        radius = max(1, round(pixels / scale))
        maps, offset = _affine_maps(coarse_guide, coarse_image, radius, self.eps)
        batch, _, channels, small_h, small_w = maps.shape
        fields = torch.cat([maps.flatten(1, 2), offset], 1)  # (T, 3C + C, h, w)
        if self.steady:
            fields = self._steadied(sources, coarse_guide, fields)
        if scale > 1:
            fields = F.interpolate(fields, size=(height, width), mode="bilinear", align_corners=False)
            small_h, small_w = height, width
        maps = fields[:, : 3 * channels].view(batch, 3, channels, small_h, small_w)
        return _apply(maps, fields[:, 3 * channels :], guide)

    def _steadied(self, sources: Tensor, coarse_guide: Tensor, fields: Tensor) -> Tensor:
        """Each frame's maps pulled towards the previous frame's (filtered) maps carried along the source's
        motion, with the temporal filter's weight: ``steady * exp(-(mismatch / tolerance) ** 2)`` where the
        mismatch is how far the carried coarse source lands from the frame's."""
        frames = sources if sources.dtype == torch.uint8 else sources.round().clamp(0, 255).to(torch.uint8)
        past = self._past[:2] if self._past is not None else None
        carry = carry_along_motion(self._dis, frames, coarse_guide, past, self.steady, self.tolerance, self.flow_width)
        self.flows = carry.flows
        out = follow(fields, self._past[2] if self._past is not None else None, carry)
        self._past = (carry.grays[-1], coarse_guide[-1], out[-1])
        return out
