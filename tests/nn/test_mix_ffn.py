"""Mix-FFN temporal conv: our tap formulation against nn.Conv2d run the official way, chunk by chunk."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sana_streaming.nn.mix_ffn import MixFFN


def official_t_conv(ffn: MixFFN, x: torch.Tensor) -> torch.Tensor:
    """The official layer: Conv2d(C, C, (3, 1), padding (1, 0)) on (B, C, T, S)."""
    return F.conv2d(x, ffn.t_conv.weight, padding=(1, 0))


def conv_reference(ffn: MixFFN, y: torch.Tensor, chunks, left):
    """Official CachedGLUMBConvTemp: per chunk, prepend the cached frame, zero-pad, conv, drop the cache slot."""
    outs, start = [], 0
    x = y.permute(0, 3, 1, 2)  # (B, C, T, S)
    prev = left.transpose(1, 2)[:, :, None]
    for size in chunks:
        part = x[:, :, start : start + size]
        padded = torch.cat([prev, part], dim=2)
        outs.append(part + official_t_conv(ffn, padded)[:, :, 1:])
        prev = part[:, :, -1:]
        start += size
    return torch.cat(outs, dim=2).permute(0, 2, 3, 1)


def test_temporal_conv_matches_chunked_conv2d():
    torch.manual_seed(0)
    ffn = MixFFN(16, 24)
    torch.nn.init.normal_(ffn.t_conv.weight, std=0.2)
    y = torch.randn(2, 8, 5, 16)
    left = torch.randn(2, 5, 16)
    ours = ffn.temporal(y, (3, 2, 3), left)
    torch.testing.assert_close(ours, conv_reference(ffn, y, (3, 2, 3), left), atol=1e-6, rtol=1e-6)


def test_one_chunk_without_context_is_zero_padded_conv():
    torch.manual_seed(1)
    ffn = MixFFN(16, 24)
    torch.nn.init.normal_(ffn.t_conv.weight, std=0.2)
    y = torch.randn(1, 4, 3, 16)
    x = y.permute(0, 3, 1, 2)
    expected = (x + official_t_conv(ffn, x)).permute(0, 2, 3, 1)
    torch.testing.assert_close(ffn.temporal(y, (4,), None), expected, atol=1e-6, rtol=1e-6)


def test_forward_returns_last_spatial_frame_as_next_context():
    torch.manual_seed(2)
    ffn = MixFFN(16, 24)
    x = torch.randn(1, 3 * 6, 16)
    out, last = ffn(x, (3, 2, 3))
    torch.testing.assert_close(last, ffn.spatial(x, (3, 2, 3))[:, -1])
    assert out.shape == x.shape


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_unrolled_depthwise_conv_equals_the_conv(bias, dtype):
    from sana_streaming.nn.mix_ffn import DepthwiseConv

    torch.manual_seed(0)
    conv = DepthwiseConv(24)
    if not bias:
        conv.conv.bias = None
    x = torch.randn(2, 24, 5, 7).to(memory_format=torch.channels_last)  # as MixFFN feeds it
    with torch.no_grad():
        expected = conv.double()(x.double())
        conv = conv.to(dtype)
        conv.unrolled = True
        got = conv(x.to(dtype))
    assert got.dtype == dtype and got.shape == expected.shape
    tolerance = {torch.float32: 1e-6, torch.bfloat16: 1e-2}[dtype]  # bf16: the output's own rounding
    torch.testing.assert_close(got.double(), expected, atol=tolerance, rtol=tolerance)


def test_compile_model_unrolls_the_depthwise_convs_when_asked(monkeypatch):
    from sana_streaming.engine.compile import compile_model
    from sana_streaming.models.transformer import SanaStreamingTransformer
    from sana_streaming.nn.mix_ffn import DepthwiseConv
    from tests.conftest import small_config

    model = SanaStreamingTransformer(small_config())
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kwargs: None)  # the unrolling, not inductor
    convs = [m for m in model.modules() if isinstance(m, DepthwiseConv)]
    compile_model(model)
    assert len(convs) == model.cfg.depth and not any(m.unrolled for m in convs)  # cuDNN's conv: faster
    compile_model(model, unroll_depthwise=True)
    assert all(m.unrolled for m in convs)
