"""Input and conditioning embedders and the final projection of the DiT."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sana_streaming.nn.norm import layer_norm, modulate


class PatchEmbed(nn.Module):
    """Conv3d patchifier: latents (B, C_in, T, H, W) -> tokens (B, N, C), frame-major."""

    def __init__(self, in_channels: int, dim: int, patch: tuple[int, int, int]) -> None:
        super().__init__()
        self.proj = nn.Conv3d(in_channels, dim, kernel_size=patch, stride=patch)

    def forward(self, x: Tensor) -> Tensor:
        # Contiguous tokens: the residual stream inherits this layout, and channels-first strides would make
        # every later linear layer copy its input.
        return self.proj(x).flatten(2).transpose(1, 2).contiguous()


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding (..., dim) of timesteps on the 0..1000 scale, cos before sin, float32.

    The timestep is truncated to an integer first, as the official model does.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = torch.trunc(t.float())[..., None] * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimestepEmbedder(nn.Module):
    """Sinusoid (256) -> Linear -> SiLU -> Linear (C)."""

    def __init__(self, dim: int, frequency_dim: int = 256) -> None:
        super().__init__()
        self.frequency_dim = frequency_dim
        self.mlp = nn.Sequential(nn.Linear(frequency_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        freq = timestep_embedding(t, self.frequency_dim).to(self.mlp[0].weight.dtype)
        return self.mlp(freq)


class CaptionMLP(nn.Module):
    """fc1 -> GELU (tanh) -> fc2."""

    def __init__(self, in_dim: int, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_dim, dim)
        self.fc2 = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class CaptionEmbedder(nn.Module):
    """Projects text-encoder features to the model width; holds the null caption used for text dropout."""

    def __init__(self, in_dim: int, dim: int, max_tokens: int) -> None:
        super().__init__()
        self.y_proj = CaptionMLP(in_dim, dim)
        self.register_buffer("y_embedding", torch.randn(max_tokens, in_dim) / in_dim**0.5)

    def forward(self, text: Tensor) -> Tensor:
        return self.y_proj(text)


class FinalLayer(nn.Module):
    """LayerNorm, shift/scale from the timestep embedding, Linear to the output channels per patch."""

    def __init__(self, dim: int, out_features: int) -> None:
        super().__init__()
        self.scale_shift_table = nn.Parameter(torch.zeros(2, dim))
        self.linear = nn.Linear(dim, out_features)

    def forward(self, x: Tensor, t_emb: Tensor) -> Tensor:
        """x: (B, N, C); t_emb: (B, Tm, C) with Tm = 1 or T (per-frame timesteps)."""
        shift, scale = (self.scale_shift_table[None, None] + t_emb[:, :, None]).unbind(2)
        return self.linear(modulate(layer_norm(x), shift, scale))
