"""The VAE's CPU conv path (oneDNN called directly) against nn.Conv3d."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sana_streaming.vae.layers import conv3d


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect"])
@pytest.mark.parametrize("shape", [(1, 64, 6, 12, 20), (2, 8, 4, 9, 7)])
def test_the_cpu_conv_equals_nn_conv3d(padding_mode, shape):
    torch.manual_seed(0)
    conv = nn.Conv3d(shape[1], 16, 3, padding=(0, 1, 1), padding_mode=padding_mode)
    x = torch.randn(shape)
    with torch.no_grad():
        torch.testing.assert_close(conv3d(conv, x), conv(x), atol=1e-5, rtol=1e-5)
    y = conv3d(conv, x)  # with autograd on, the weights' gradient needs nn.Conv3d's own path
    assert y.grad_fn is not None
    y.sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0


def test_the_cpu_conv_is_taken_in_inference(monkeypatch):
    calls = []
    real = torch.ops.aten.mkldnn_convolution

    class Spy:
        def __call__(self, *args):
            calls.append(args[0].shape)
            return real(*args)

    monkeypatch.setattr(torch.ops.aten, "mkldnn_convolution", Spy())
    conv = nn.Conv3d(4, 4, 3, padding=(0, 1, 1))
    with torch.no_grad():
        conv3d(conv, torch.randn(1, 4, 3, 5, 5))
    assert calls == ([torch.Size([1, 4, 3, 5, 5])] if torch.backends.mkldnn.is_available() else [])
