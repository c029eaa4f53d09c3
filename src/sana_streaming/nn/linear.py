"""Linear maps stored in the official checkpoint layouts.

Every module here exposes ``matrix`` (the acting (out, in) weight) and ``bias``, and computes
``F.linear(x, matrix, bias)`` on channels-last tokens, so that quantization can swap any of them (and plain
``nn.Linear``) for a low-precision linear from outside the model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class TapLinear(nn.Module):
    """A bias-free linear map whose weight is stored as a temporal Conv1d kernel of which only the centre tap acts.

    The official streaming checkpoints keep self-attention q/k as ``Conv1d(C, C, kernel)`` weights
    (kernel 1 in GDN blocks, kernel 3 in softmax blocks) but only ever apply the centre tap, per token.
    ``taps=0`` stores a plain ``(out, in)`` matrix (the official bidirectional layout of softmax q/k).
    """

    bias = None

    def __init__(self, in_features: int, out_features: int, taps: int) -> None:
        super().__init__()
        self.taps = taps
        shape = (out_features, in_features, taps) if taps else (out_features, in_features)
        self.weight = nn.Parameter(torch.empty(shape))

    @property
    def matrix(self) -> Tensor:
        """The acting (out, in) matrix."""
        return self.weight[:, :, self.taps // 2] if self.taps else self.weight

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.matrix)

    def extra_repr(self) -> str:
        return f"in_features={self.weight.shape[1]}, out_features={self.weight.shape[0]}, taps={self.taps}"


class PointwiseConv(nn.Module):
    """A 1 x 1 ``Conv2d`` (kept as ``conv`` for the official key names) applied to channels-last tokens."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=bias)

    @property
    def matrix(self) -> Tensor:
        return self.conv.weight.flatten(1)

    @property
    def bias(self) -> Tensor | None:
        return self.conv.bias

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.matrix, self.bias)


class TemporalConv(nn.Module):
    """The Mix-FFN temporal conv, a dense (3 x 1) ``Conv2d`` over frames stored as ``weight`` (C, C, 3, 1), applied
    as one linear map to the frames [t - 1, t, t + 1] concatenated on channels (B, ..., 3C) -> (B, ..., C)."""

    bias = None

    def __init__(self, channels: int, kernel: int = 3) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(channels, channels, kernel, 1))

    @property
    def matrix(self) -> Tensor:
        """(C_out, kernel * C_in), column blocks in tap order (oldest frame first)."""
        return self.weight[..., 0].permute(0, 2, 1).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.matrix)
