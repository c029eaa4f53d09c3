"""Precomputed text features: the same tensors as the encoder that made them, and clear errors."""

from __future__ import annotations

import pytest
import torch

from sana_streaming.engine.loading import load_text_encoder
from sana_streaming.models.transformer import SanaStreamingTransformer
from sana_streaming.text.base import PromptError
from sana_streaming.text.precomputed import PrecomputedTextEncoder, save_text_features
from tests.conftest import HashTextEncoder, randomize_, small_config


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


def test_unused_token_positions_are_not_stored_and_change_nothing(tmp_path):
    """MiniLM pads with non-zero features at masked positions; the file keeps only the used positions and the
    model's output is the same with the zeros that come back."""
    encoder = HashTextEncoder(24, max_tokens=16)  # prompts of at most 3 words: 3 of 16 positions used
    prompts = ["make it night", "pencil sketch"]
    path = save_text_features(encoder, prompts, tmp_path / "f.safetensors")
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        assert f.get_slice("features").get_shape() == [2, 3, 24]
    features, mask = PrecomputedTextEncoder(path).encode(prompts)
    assert features.shape == (2, 16, 24) and mask.shape == (2, 16) and not features[:, 3:].any()
    torch.manual_seed(0)
    model = randomize_(SanaStreamingTransformer(small_config())).eval()  # cross-attention outputs are not zero
    padded = features.clone()
    padded[mask == 0] = torch.randn(int((mask == 0).sum()), 24)  # what an encoder's padding looks like
    x, src = torch.randn(2, model.cfg.in_channels, 2, 2, 2), torch.randn(2, model.cfg.source_channels, 2, 2, 2)
    t = torch.tensor([400.0, 600.0])
    with torch.no_grad():
        stored = model(x, src, t, model.encode_text(features, mask))
        original = model(x, src, t, model.encode_text(padded, mask))
        unmasked = model(x, src, t, model.encode_text(padded, torch.ones_like(mask)))
    torch.testing.assert_close(stored, original, atol=1e-5, rtol=1e-5)
    assert (unmasked - stored).abs().max() > 1e-2  # the padding would matter if the mask were not honoured
