"""Mix-FFN: per-frame GLU inverted-bottleneck conv, then a residual temporal conv over frames."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sana_streaming.nn.linear import PointwiseConv, TemporalConv


class DepthwiseConv(nn.Module):
    """3 x 3 depthwise ``Conv2d`` (kept as ``conv`` for the official key names) on (B, C, H, W).

    ``unrolled`` (``compile_model(unroll_depthwise=True)``): the same conv as nine shifted multiply-adds in
    float32, which ``torch.compile`` fuses with the SiLU before and the GLU after. On the H200 the fused
    kernels (they also take the FP8 row maxima across channels of an NCHW tensor) made a 720p chunk 24 ms
    slower than cuDNN's kernel, so it is off by default; kept for the bench's comparison.
    """

    unrolled = False

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)

    def forward(self, x: Tensor) -> Tensor:
        if not self.unrolled:
            return self.conv(x)
        return depthwise3x3_taps(x, self.conv.weight, self.conv.bias)


def depthwise3x3_taps(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``F.conv2d(x, weight, bias, padding=1, groups=C)`` for (B, C, H, W) x and (C, 1, 3, 3) weight, written
    as nine shifted products accumulated in float32; the result in x's dtype."""
    height, width = x.shape[-2:]
    padded = F.pad(x.float(), (1, 1, 1, 1))
    taps = weight.float()[:, 0, :, :, None, None]  # (C, 3, 3, 1, 1)
    out = torch.zeros_like(padded[..., 1:-1, 1:-1]) if bias is None else bias.float()[:, None, None].expand_as(x)
    for i in range(3):
        for j in range(3):
            out = out + padded[..., i : i + height, j : j + width] * taps[:, i, j]
    return out.to(x.dtype)


class MixFFN(nn.Module):
    """1x1 conv (C -> 2F) + SiLU, 3x3 depthwise conv, GLU a * SiLU(g), 1x1 conv (F -> C), then
    ``y + t_conv(y)``, a dense (3 x 1) conv over time with left context and zero right padding.
    """

    def __init__(self, dim: int, hidden: int, t_kernel: int = 3) -> None:
        super().__init__()
        if t_kernel != 3:
            raise ValueError(f"only a temporal kernel of 3 is supported, got {t_kernel}")
        self.inverted_conv = PointwiseConv(dim, 2 * hidden)
        self.depth_conv = DepthwiseConv(2 * hidden)
        self.point_conv = PointwiseConv(hidden, dim, bias=False)
        self.t_conv = TemporalConv(dim, t_kernel)

    def spatial(self, x: Tensor, grid: tuple[int, int, int]) -> Tensor:
        """Per-frame branch: tokens (B, N, C) -> (B, T, S, C)."""
        frames, height, width = grid
        batch, _, channels = x.shape
        h = F.silu(self.inverted_conv(x))
        h = self.depth_conv(h.view(batch * frames, height, width, -1).permute(0, 3, 1, 2))
        a, g = h.chunk(2, dim=1)
        h = (a * F.silu(g)).permute(0, 2, 3, 1)
        return self.point_conv(h).reshape(batch, frames, height * width, channels)

    def temporal(self, y: Tensor, chunks: tuple[int, ...], left: Tensor | None) -> Tensor:
        """``y + t_conv(y)`` over frames of y (B, T, S, C); the right neighbour is zero at every chunk end.

        Args:
            left: frame before the first one (B, S, C) (the previous chunk's last frame), zeros when None.
        """
        batch, frames, spatial, channels = y.shape
        if left is None:
            left = y.new_zeros(batch, spatial, channels)
        prev = torch.cat([left[:, None].to(y.dtype), y[:, :-1]], dim=1)
        nxt = torch.cat([y[:, 1:], torch.zeros_like(y[:, :1])], dim=1)  # zero after the last frame
        if len(chunks) > 1:  # and after the last frame of every chunk (set with Python indices: no host copy)
            keep = torch.ones(frames, 1, 1, dtype=y.dtype, device=y.device)
            for end in itertools.accumulate(chunks[:-1]):
                keep[end - 1] = 0
            nxt = nxt * keep
        return y + self.t_conv(torch.cat([prev, y, nxt], dim=-1))

    def forward(
        self,
        x: Tensor,
        grid: tuple[int, int, int],
        *,
        chunks: tuple[int, ...] | None = None,
        left: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Args:
            x: modulated tokens (B, N, C).
            grid: (T, H, W).
            chunks: frames per chunk; None = one chunk.
            left: temporal-conv left context (B, S, C) from the previous chunk, zeros when None.

        Returns:
            output (B, N, C) and the last frame of the spatial branch (B, S, C), the next chunk's left context.
        """
        y = self.spatial(x, grid)
        out = self.temporal(y, chunks or (grid[0],), left)
        return out.flatten(1, 2), y[:, -1]
