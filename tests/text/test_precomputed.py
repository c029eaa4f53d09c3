"""Precomputed text features: the same tensors as the encoder that made them, and clear errors."""

from __future__ import annotations

import pytest
import torch

from sana_streaming.engine.loading import load_text_encoder
from sana_streaming.models.transformer import SanaStreamingTransformer
from sana_streaming.text.base import PromptError
from sana_streaming.text.precomputed import PrecomputedTextEncoder, save_text_features
from tests.conftest import HashTextEncoder, small_config


def test_features_round_trip_in_float16(tmp_path):
    encoder = HashTextEncoder(24)
    prompts = ["make it night", "pencil sketch", "make it night", "sepia film look"]
    path = save_text_features(encoder, prompts, tmp_path / "f.safetensors", batch=2)
    stored = PrecomputedTextEncoder(path)
    assert len(stored.index) == 3 and stored.feature_dim == 24 and stored.max_tokens == encoder.max_tokens
    features, mask = stored.encode(["sepia film look", "make it night"])
    want_features, want_mask = encoder.encode(["sepia film look", "make it night"])
    torch.testing.assert_close(features, want_features.half().float(), atol=0, rtol=0)
    assert torch.equal(mask, want_mask) and features.dtype == torch.float32 and mask.dtype == torch.int64
    with pytest.raises(PromptError, match=r"prompt not in f\.safetensors"):
        stored.encode(["something else"])


def test_the_loader_takes_a_features_spec_and_checks_the_width(tmp_path):
    path = save_text_features(HashTextEncoder(24), ["night"], tmp_path / "f.safetensors")
    model = SanaStreamingTransformer(small_config())  # caption_channels 24
    loaded = load_text_encoder(f"features:{path}", model, device=torch.device("cpu")).part
    assert loaded.encode(["night"])[0].shape == (1, 6, 24)
    wide = SanaStreamingTransformer(small_config(caption_channels=32))
    with pytest.raises(ValueError, match="32"):
        load_text_encoder(f"features:{path}", wide, device=torch.device("cpu"))
    with pytest.raises(FileNotFoundError, match="text features not found"):
        load_text_encoder(f"features:{tmp_path / 'none.safetensors'}", model, device=torch.device("cpu"))
