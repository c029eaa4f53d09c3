"""Text encoders: prompts -> fixed-length per-token features and mask for the DiT's cross-attention.

:class:`MiniLMTextEncoder` is the default (bundled weights, offline); :class:`GemmaTextEncoder` is the
official SANA-Streaming encoder. Importing this package loads no model and does not import transformers.
"""

from sana_streaming.text.base import (
    CachedTextEncoder,
    PromptError,
    TextEncoder,
    TextEncoderNotFoundError,
)
from sana_streaming.text.gemma import CHI_PREFIX, NEGATIVE_PROMPT, GemmaTextEncoder, with_motion_score
from sana_streaming.text.minilm import MiniLMTextEncoder

__all__ = [
    "CHI_PREFIX",
    "NEGATIVE_PROMPT",
    "CachedTextEncoder",
    "GemmaTextEncoder",
    "MiniLMTextEncoder",
    "PromptError",
    "TextEncoder",
    "TextEncoderNotFoundError",
    "with_motion_score",
]
