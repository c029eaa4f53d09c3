from __future__ import annotations

import torch

from sana_streaming.nn.cross_attention import CrossAttention, text_attention_bias
from sana_streaming.nn.rope import rope_table
from sana_streaming.nn.softmax_attention import GatedSoftmaxAttention


def test_padded_text_tokens_are_ignored():
    torch.manual_seed(0)
    attn = CrossAttention(32, 2)
    x, text = torch.randn(1, 10, 32), torch.randn(1, 5, 32)
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    out = attn(x, attn.text_context(text), text_attention_bias(mask, x.dtype))
    text2 = text.clone()
    text2[:, 3:] = torch.randn(1, 2, 32) * 10
    out2 = attn(x, attn.text_context(text2), text_attention_bias(mask, x.dtype))
    torch.testing.assert_close(out, out2, atol=1e-6, rtol=0)
    full = attn(x, attn.text_context(text2), None)
    assert (full - out).abs().max() > 1e-3


def test_cached_keys_equal_attention_over_concatenated_tokens():
    """Queries of the current chunk over [cached, current] keys = a joint pass with a chunk-causal mask."""
    torch.manual_seed(1)
    attn = GatedSoftmaxAttention(48, 24, qk_taps=3)
    for p in attn.parameters():
        torch.nn.init.normal_(p, std=0.2)
    past, now = torch.randn(1, 12, 48), torch.randn(1, 6, 48)
    rope = rope_table(24, 0, 3, 2, 3)
    rope_past = tuple(t[:12] for t in rope)
    rope_now = tuple(t[12:] for t in rope)
    _, k_past, v_past = attn(past, rope_past)
    out_now, _, _ = attn(now, rope_now, context=(k_past, v_past))
    mask = torch.ones(18, 18, dtype=torch.bool)
    mask[:12, 12:] = False
    joint, _, _ = attn(torch.cat([past, now], 1), rope, mask=mask)
    torch.testing.assert_close(out_now, joint[:, 12:], atol=1e-5, rtol=1e-5)
