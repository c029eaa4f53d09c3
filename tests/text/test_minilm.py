"""The default MiniLM encoder on the real bundled all-MiniLM-L6-v2 weights (offline)."""

from __future__ import annotations

import pytest
import torch
from huggingface_hub import constants

from sana_streaming.text import CachedTextEncoder, MiniLMTextEncoder, PromptError, TextEncoderNotFoundError

# fp32 on the CPU: the same prompt in another batch may take other matmul blockings.
ATOL, RTOL = 1e-5, 1e-5


@pytest.fixture(scope="module")
def encoder() -> MiniLMTextEncoder:
    return MiniLMTextEncoder()


def test_shapes_dtypes_and_mask(encoder):
    prompts = ["a cat on a sofa", "a red car driving through a rainy city at night"]
    features, mask = encoder.encode(prompts)
    assert (encoder.feature_dim, encoder.max_tokens, encoder.max_prompt_tokens) == (384, 64, 62)
    assert features.shape == (2, 64, 384) and features.dtype == torch.float32 and features.device.type == "cpu"
    assert mask.shape == (2, 64) and mask.dtype == torch.int64
    assert torch.isfinite(features).all()
    for row, prompt in zip(mask, prompts, strict=True):
        num_real = encoder.count_tokens(prompt) + 2  # [CLS] and [SEP]
        assert row.tolist() == [1] * num_real + [0] * (64 - num_real)


def test_padding_is_zero_and_real_tokens_are_not(encoder):
    features, mask = encoder.encode(["a cat"])
    assert (features[mask == 0] == 0).all()
    assert (features[mask == 1].abs().amax(dim=-1) > 0).all()


def test_deterministic_and_prompt_dependent(encoder):
    first, mask = encoder.encode(["a cat on a sofa"])
    again, mask_again = encoder.encode(["a cat on a sofa"])
    assert torch.equal(first, again) and torch.equal(mask, mask_again)
    other, other_mask = encoder.encode(["a dog in a park"])
    assert torch.equal(mask, other_mask)  # same length, so only the features can tell them apart
    assert (first - other)[mask == 1].abs().amax() > 0.1


def test_batch_does_not_change_a_prompts_features(encoder):
    alone, alone_mask = encoder.encode(["a cat"])
    batch, batch_mask = encoder.encode(["a very long prompt about a city street full of people at dusk", "a cat"])
    assert torch.equal(batch_mask[1], alone_mask[0])
    real = alone_mask[0] == 1
    torch.testing.assert_close(batch[1][real], alone[0][real], atol=ATOL, rtol=RTOL)


def test_empty_and_over_long_prompts_are_refused_with_one_line(encoder):
    for empty in ["", "   "]:
        with pytest.raises(PromptError) as error:
            encoder.encode(["a cat", empty])
        assert str(error.value) == "the prompt is empty"
    assert encoder.count_tokens("cat " * 63) == 63
    with pytest.raises(PromptError) as error:
        encoder.encode(["cat " * 63])
    assert str(error.value) == "the prompt is 63 tokens long; the limit of this text encoder is 62 tokens"


def test_custom_length_fills_exactly():
    short = MiniLMTextEncoder(max_tokens=16)
    features, mask = short.encode(["cat " * 14])
    assert features.shape == (1, 16, 384) and bool(mask.all())
    with pytest.raises(PromptError) as error:
        short.encode(["cat " * 15])
    assert str(error.value) == "the prompt is 15 tokens long; the limit of this text encoder is 14 tokens"
    with pytest.raises(ValueError, match=r"max_tokens must be in 3\.\.512, got 2"):
        MiniLMTextEncoder(max_tokens=2)


def test_missing_model_is_one_clear_line(tmp_path):
    missing = tmp_path / "no-model-here"
    with pytest.raises(TextEncoderNotFoundError) as error:
        MiniLMTextEncoder(missing)
    assert str(error.value) == (
        f"the MiniLM text encoder was not found: {str(missing)!r} is neither a local folder nor a model id in the "
        f"local Hugging Face cache ({constants.HF_HUB_CACHE}); give the folder of a BERT-style model, or leave "
        "the path unset to use the bundled all-MiniLM-L6-v2"
    )


def test_cache_encodes_a_prompt_once(encoder):
    cached = CachedTextEncoder(encoder, max_entries=4)
    direct, direct_mask = encoder.encode(["a cat", "a dog"])
    features, mask = cached.encode(["a cat", "a dog"])
    assert (cached.hits, cached.misses) == (0, 2)
    features_again, _ = cached.encode(["a dog", "a cat"])
    assert (cached.hits, cached.misses) == (2, 2)
    torch.testing.assert_close(features, direct, atol=ATOL, rtol=RTOL)
    assert torch.equal(mask, direct_mask)
    assert torch.equal(features_again, features.flip(0))
