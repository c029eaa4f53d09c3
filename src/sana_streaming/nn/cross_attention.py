"""Multi-head cross-attention from video tokens to text tokens (not modulated, not gated)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from sana_streaming.nn.norm import RMSNorm

# The official model adds this to the logits of padded text tokens (not -inf): a fully padded prompt
# still yields a finite average of the values.
TEXT_PAD_LOGIT = -10000.0


def text_attention_bias(mask: Tensor, dtype) -> Tensor:
    """Additive logit bias (B, 1, 1, L) from a text mask (B, L) with 1 = valid, 0 = padding."""
    return ((1 - mask.to(dtype)) * TEXT_PAD_LOGIT)[:, None, None, :]


class CrossAttention(nn.Module):
    """Queries from video tokens, keys/values from text; RMSNorm on q and k over all channels."""

    def __init__(self, dim: int, num_heads: int, *, qk_norm: bool = True, eps: float = 1e-6) -> None:
        super().__init__()
        self.heads = num_heads
        self.head_dim = dim // num_heads
        self.q_linear = nn.Linear(dim, dim)
        self.kv_linear = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.q_norm = RMSNorm(dim, eps=eps) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(dim, eps=eps) if qk_norm else nn.Identity()

    def _heads(self, x: Tensor) -> Tensor:
        batch, tokens, _ = x.shape
        return x.view(batch, tokens, self.heads, self.head_dim).transpose(1, 2)

    def text_context(self, text: Tensor) -> tuple[Tensor, Tensor]:
        """Keys and values (B, H, L, D) of the embedded text (B, L, C); depends only on the prompt."""
        k, v = self.kv_linear(text).unflatten(-1, (2, -1)).unbind(-2)
        return self._heads(self.k_norm(k)), self._heads(v)

    def forward(self, x: Tensor, context: tuple[Tensor, Tensor], bias: Tensor | None) -> Tensor:
        """Args:
        x: video tokens (B, N, C).
        context: (keys, values) from :meth:`text_context`.
        bias: additive logit bias (B, 1, 1, L) from :func:`text_attention_bias`, or None.
        """
        batch, tokens, channels = x.shape
        q = self._heads(self.q_norm(self.q_linear(x)))
        attn_mask = None if bias is None else bias.to(q.dtype)
        out = F.scaled_dot_product_attention(q, context[0], context[1], attn_mask=attn_mask)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, channels))
