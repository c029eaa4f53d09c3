"""Shared test helpers: fixture paths, small configs, non-trivial random weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sana_streaming.models.config import ModelConfig
from sana_streaming.models.transformer import SanaStreamingTransformer
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


def randomize_(model: SanaStreamingTransformer, seed: int = 0) -> SanaStreamingTransformer:
    """Every parameter non-trivial (like the official fixtures): the zero-initialised parts must act in tests."""
    return model.randomize_weights(seed)


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
