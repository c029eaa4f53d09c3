"""Normalisation and AdaLN modulation helpers."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class RMSNorm(nn.Module):
    """RMS normalisation over the last dimension, computed in float32, with a learned per-channel weight."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return (self.weight * normed).type_as(x)


def layer_norm(x: Tensor, eps: float = 1e-6) -> Tensor:
    """LayerNorm over channels without affine parameters (the DiT pre-norm)."""
    return F.layer_norm(x, x.shape[-1:], eps=eps)


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """AdaLN modulation ``x * (1 + scale) + shift`` with one (shift, scale) per frame or per sample.

    Args:
        x: tokens (B, N, C), frame-major (N = T * S).
        shift, scale: (B, Tm, C) with Tm = 1 (one timestep per sample) or Tm = T (one per frame).

    Returns:
        (B, N, C).
    """
    batch, tokens, channels = x.shape
    groups = shift.shape[1]
    x = x.view(batch, groups, tokens // groups, channels)
    return (x * (1 + scale[:, :, None]) + shift[:, :, None]).view(batch, tokens, channels)


def gate(x: Tensor, g: Tensor) -> Tensor:
    """Multiply tokens (B, N, C) by a per-frame or per-sample gate (B, Tm, C)."""
    batch, tokens, channels = x.shape
    groups = g.shape[1]
    return (x.view(batch, groups, tokens // groups, channels) * g[:, :, None]).view(batch, tokens, channels)
