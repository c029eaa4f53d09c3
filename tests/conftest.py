"""Shared test helpers: fixture paths, small configs, non-trivial random weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sana_streaming.models.config import ModelConfig
from sana_streaming.models.transformer import SanaStreamingTransformer
from sana_streaming.nn.gdn import GatedDeltaNetAttention
from sana_streaming.text.base import TextEncoder

FIXTURES = Path(__file__).parent / "fixtures" / "official"


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def small_config(**changes) -> ModelConfig:
    """A 4-block model (GDN, softmax, GDN, softmax) that runs in milliseconds."""
    base = ModelConfig(
        depth=4,
        hidden_size=96,
        num_heads=2,
        head_dim=48,
        mlp_ratio=2.0,
        in_channels=8,
        source_channels=8,
        caption_channels=24,
        caption_length=6,
        softmax_layers=(1, 3),
        softmax_qk_taps=3,
        name="test-small",
    )
    return base.replace(**changes)


@torch.no_grad()
def randomize_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every parameter a non-trivial value (like the official fixtures): the zero-initialised parts
    (temporal conv, gates, output projections) must all act in tests."""
    gen = torch.Generator().manual_seed(seed)

    def normal(shape, mean=0.0, std=1.0):
        return torch.randn(shape, generator=gen) * std + mean

    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if name.endswith("norm.weight"):
            p.copy_(normal(p.shape, 1.0, 0.1))
        elif leaf == "scale_shift_table":
            p.copy_(normal(p.shape, 0.0, 0.2))
        elif leaf == "A_log":
            p.copy_(normal(p.shape, 0.0, 0.5))
        elif leaf == "dt_bias":
            p.copy_(normal(p.shape, -2.0, 0.5))
        elif leaf == "bias":
            p.copy_(normal(p.shape, 0.5 if "output_gate" in name else 0.0, 0.5 if "gate" in name else 0.1))
        else:
            fan_in = p[0].numel() if p.dim() > 1 else p.numel()
            p.copy_(normal(p.shape, 0.0, fan_in**-0.5))
    for module in model.modules():
        if isinstance(module, GatedDeltaNetAttention):
            module.beta_proj.bias.copy_(normal(module.beta_proj.bias.shape))
    return model


@pytest.fixture
def small_model() -> SanaStreamingTransformer:
    torch.manual_seed(0)
    return randomize_(SanaStreamingTransformer(small_config())).eval()


class HashTextEncoder(TextEncoder):
    """Deterministic features from the prompt's characters (no model needed)."""

    def __init__(self, feature_dim: int, max_tokens: int = 6) -> None:
        self.feature_dim, self.max_tokens, self.name = feature_dim, max_tokens, "hash"
        self.calls = 0

    def encode(self, prompts):
        self.calls += 1
        feats = torch.zeros(len(prompts), self.max_tokens, self.feature_dim)
        mask = torch.zeros(len(prompts), self.max_tokens, dtype=torch.int64)
        for b, prompt in enumerate(prompts):
            gen = torch.Generator().manual_seed(sum(map(ord, prompt)))
            n = min(len(prompt.split()), self.max_tokens)
            feats[b, :n] = torch.randn(n, self.feature_dim, generator=gen)
            mask[b, :n] = 1
        return feats, mask
