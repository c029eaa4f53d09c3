"""The text-encoder interface the DiT is conditioned through, its errors, and a prompt cache.

A text encoder turns a batch of prompts into per-token features of a fixed length ``max_tokens`` (L) plus a
mask, so the cross-attention always sees the same shapes whatever the prompt:

- features (B, L, feature_dim) float32 on the CPU; ``feature_dim`` is the DiT's ``caption_channels``;
- mask (B, L) int64, 1 for a real token and 0 for padding.

Prompts longer than an encoder can hold are refused with a :class:`PromptError` instead of being cut, so
what the user wrote is never silently dropped. Token counts in those errors are the tokens the prompt itself
adds, not counting the encoder's own special tokens or instruction prefix.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor

from sana_streaming.hub import WeightsNotFoundError


class PromptError(ValueError):
    """A prompt the encoder cannot take; the message is one line meant for the user."""


class TextEncoderNotFoundError(WeightsNotFoundError):
    """The weights of a text encoder are not on this machine; the message is one line naming what was looked for."""


def check_prompts(prompts: Sequence[str]) -> list[str]:
    """Validate a batch of prompts and return it as a list.

    Raises:
        TypeError: a single string was given instead of a sequence of prompts, or an entry is not a string.
        PromptError: the batch is empty, or a prompt is empty or only whitespace.
    """
    # A bare string is itself a Sequence[str]; encoding it would silently treat each character as a prompt.
    if isinstance(prompts, str):
        raise TypeError("encode() takes a sequence of prompts, not a single string; wrap it in a list")
    prompts = list(prompts)
    if not prompts:
        raise PromptError("no prompt was given")
    for prompt in prompts:
        if not isinstance(prompt, str):
            raise TypeError(f"a prompt must be a string, got {type(prompt).__name__}")
        if not prompt.strip():
            raise PromptError("the prompt is empty")
    return prompts


def prompt_too_long(num_tokens: int, limit: int) -> PromptError:
    """The one-line error for a prompt of ``num_tokens`` tokens when the encoder holds ``limit``."""
    return PromptError(f"the prompt is {num_tokens} tokens long; the limit of this text encoder is {limit} tokens")


class TextEncoder(ABC):
    """Prompts -> fixed-length per-token features and mask.

    Attributes:
        feature_dim: width of each token feature (the DiT's ``caption_channels``).
        max_tokens: L, the fixed number of token positions of every output.
        name: a short human-readable name, for logs and metadata.
    """

    feature_dim: int
    max_tokens: int
    name: str

    @abstractmethod
    def encode(self, prompts: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Encode a batch of prompts.

        Args:
            prompts: B non-empty prompts.

        Returns:
            features (B, L, feature_dim) float32 on the CPU, and mask (B, L) int64 (1 = token, 0 = padding).

        Raises:
            PromptError: a prompt is empty or longer than the encoder holds.
        """

    def __repr__(self) -> str:
        sizes = f"max_tokens={self.max_tokens}, feature_dim={self.feature_dim}"
        return f"{type(self).__name__}(name={self.name!r}, {sizes})"


class CachedTextEncoder(TextEncoder):
    """Wraps a text encoder with an LRU cache prompt -> (features, mask).

    A live stream re-sends the same few prompts over and over; each distinct prompt is encoded once while it
    stays among the ``max_entries`` most recently used. ``hits`` and ``misses`` count prompts (not batches).
    Safe to share between threads: one lock guards the cache and the inner encoder.
    """

    def __init__(self, inner: TextEncoder, max_entries: int = 64) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.inner = inner
        self.max_entries = max_entries
        self.feature_dim = inner.feature_dim
        self.max_tokens = inner.max_tokens
        self.name = inner.name
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, tuple[Tensor, Tensor]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every cached prompt (the counters are kept)."""
        with self._lock:
            self._entries.clear()

    def encode(self, prompts: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Like :meth:`TextEncoder.encode`; the prompts not in the cache go to the inner encoder in one batch."""
        prompts = check_prompts(prompts)
        with self._lock:
            rows = {p: self._entries[p] for p in dict.fromkeys(prompts) if p in self._entries}
            missing = [p for p in dict.fromkeys(prompts) if p not in rows]
            if missing:
                features, mask = self.inner.encode(missing)
                # Clone each row so a cached entry does not keep the whole batch's storage alive.
                rows.update({p: (features[i].clone(), mask[i].clone()) for i, p in enumerate(missing)})
            self.misses += len(missing)
            self.hits += len(prompts) - len(missing)
            for p in prompts:
                self._remember(p, rows[p])
        return torch.stack([rows[p][0] for p in prompts]), torch.stack([rows[p][1] for p in prompts])

    def _remember(self, prompt: str, row: tuple[Tensor, Tensor]) -> None:
        self._entries[prompt] = row
        self._entries.move_to_end(prompt)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
