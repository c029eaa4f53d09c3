"""Fixtures of the VAE tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def same_conv_kernels():
    """PyTorch's own conv kernels, as a reference implementation's nn.Conv3d takes them: on the CPU our convs call
    oneDNN directly (vae.layers.conv3d, tested against nn.Conv3d in test_layers_conv.py), summing in another order,
    which on some CPUs moves inner activations by about the fixtures' float32 tolerances. Without oneDNN both take
    PyTorch's."""
    enabled = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = enabled
