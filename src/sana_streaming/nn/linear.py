"""Linear layers stored in the official checkpoint layouts."""

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
