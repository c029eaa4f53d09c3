"""The prompt checks shared by every encoder and the LRU prompt cache, on a fake encoder that needs no model."""

from __future__ import annotations

import pytest
import torch

from sana_streaming.text.base import CachedTextEncoder, PromptError, TextEncoder, check_prompts, prompt_too_long


class CountingEncoder(TextEncoder):
    """Features derived from the prompt's characters; records every batch it is asked to encode."""

    feature_dim = 3
    max_tokens = 4
    name = "counting"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, prompts):
        prompts = check_prompts(prompts)
        self.calls.append(prompts)
        codes = torch.tensor([[float(sum(map(ord, p)))] for p in prompts])
        features = codes[:, :, None] * torch.arange(1.0, 13.0).view(1, 4, 3)
        return features, torch.ones(len(prompts), 4, dtype=torch.int64)


def test_check_prompts_errors_are_one_line_and_exact():
    with pytest.raises(PromptError) as empty:
        check_prompts(["a cat", "  \n"])
    assert str(empty.value) == "the prompt is empty"
    with pytest.raises(PromptError) as none:
        check_prompts([])
    assert str(none.value) == "no prompt was given"
    with pytest.raises(TypeError, match="not a single string"):
        check_prompts("a cat")
    with pytest.raises(TypeError, match="got int"):
        check_prompts(["a cat", 3])
    message = str(prompt_too_long(93, 64))
    assert message == "the prompt is 93 tokens long; the limit of this text encoder is 64 tokens"
    assert isinstance(prompt_too_long(1, 0), ValueError)


def test_cache_encodes_each_prompt_once_and_returns_the_inner_results():
    inner = CountingEncoder()
    cached = CachedTextEncoder(inner)
    assert (cached.feature_dim, cached.max_tokens, cached.name) == (3, 4, "counting")

    first, mask = cached.encode(["a cat", "a dog", "a cat"])
    assert inner.calls == [["a cat", "a dog"]]  # the repeat inside a batch is not encoded twice
    assert (cached.misses, cached.hits) == (2, 1)
    expected, expected_mask = CountingEncoder().encode(["a cat", "a dog", "a cat"])
    assert torch.equal(first, expected) and torch.equal(mask, expected_mask)

    again, _ = cached.encode(["a dog", "a bird"])
    assert inner.calls[-1] == ["a bird"]
    assert (cached.misses, cached.hits) == (3, 2)
    assert torch.equal(again[0], expected[1])


def test_cache_is_not_changed_by_callers_and_evicts_the_least_recently_used():
    inner = CountingEncoder()
    cached = CachedTextEncoder(inner, max_entries=2)
    features, _ = cached.encode(["a"])
    features.zero_()  # a caller writing into its result must not corrupt the cache
    assert torch.equal(cached.encode(["a"])[0], CountingEncoder().encode(["a"])[0])

    cached.encode(["b"])
    cached.encode(["a"])  # "a" is now the most recent, so "b" goes first
    cached.encode(["c"])
    assert len(cached) == 2
    num_calls = len(inner.calls)
    cached.encode(["a", "c"])
    assert len(inner.calls) == num_calls
    cached.encode(["b"])
    assert inner.calls[-1] == ["b"]

    cached.clear()
    assert len(cached) == 0
    with pytest.raises(ValueError, match="max_entries"):
        CachedTextEncoder(inner, max_entries=0)


def test_cache_does_not_count_rejected_prompts():
    cached = CachedTextEncoder(CountingEncoder())
    with pytest.raises(PromptError):
        cached.encode(["a cat", ""])
    assert (cached.hits, cached.misses, len(cached)) == (0, 0, 0)
