"""Gated softmax self-attention with RoPE; keys/values are cached after RoPE for streaming."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sana_streaming.nn.linear import TapLinear
from sana_streaming.nn.norm import RMSNorm
from sana_streaming.nn.rope import apply_rope


class GatedSoftmaxAttention(nn.Module):
    """Softmax attention over [cached keys, current keys], output multiplied by SiLU(output_gate(x)).

    ``qk_taps`` is the storage layout of the q/k weights: 3 for the official streaming checkpoints
    (Conv1d kernel 3, centre tap used), 0 for the official bidirectional ones (plain matrices).
    """

    def __init__(self, dim: int, head_dim: int, *, qk_taps: int = 3, qk_norm: bool = True, norm_eps: float = 1e-5):
        super().__init__()
        self.heads = dim // head_dim
        self.head_dim = head_dim
        self.q = TapLinear(dim, dim, taps=qk_taps)
        self.k = TapLinear(dim, dim, taps=qk_taps)
        self.v = nn.Linear(dim, dim, bias=False)
        self.q_norm = RMSNorm(dim, eps=norm_eps) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(dim, eps=norm_eps) if qk_norm else nn.Identity()
        self.output_gate = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def _heads(self, x: Tensor) -> Tensor:
        """(B, N, C) -> (B, H, N, D)."""
        batch, tokens, _ = x.shape
        return x.view(batch, tokens, self.heads, self.head_dim).transpose(1, 2)

    def project(self, x: Tensor, rope: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """q, k (after RoPE) and v of tokens (B, N, C), each (B, H, N, D)."""
        q = apply_rope(self._heads(self.q_norm(self.q(x))), rope)
        k = apply_rope(self._heads(self.k_norm(self.k(x))), rope)
        return q, k, self._heads(self.v(x))

    def forward(
        self,
        x: Tensor,
        rope: tuple[Tensor, Tensor],
        *,
        context: tuple[Tensor, Tensor] | None = None,
        mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Args:
            x: tokens (B, N, C).
            rope: (cos, sin) of the tokens at their absolute frame positions, each (N, D // 2).
            context: cached (keys, values) placed before the current ones, each (B, H, M, D).
            mask: boolean (N, M + N) visibility (True = attend), for the chunk-causal full-sequence form.

        Returns:
            output (B, N, C) and this call's own (keys, values), each (B, H, N, D), for the cache.
        """
        batch, tokens, channels = x.shape
        q, k, v = self.project(x, rope)
        keys, values = k, v
        if context is not None:
            keys = torch.cat([context[0].to(k.dtype), k], dim=2)
            values = torch.cat([context[1].to(v.dtype), v], dim=2)
        out = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
        out = out.transpose(1, 2).reshape(batch, tokens, channels)
        out = out * F.silu(self.output_gate(x).float()).to(x.dtype)
        return self.proj(out), k, v
