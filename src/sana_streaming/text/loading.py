"""Finding and loading Hugging Face text models without ever touching the network.

``transformers`` and ``huggingface_hub`` are imported inside the functions: importing them takes seconds, and
importing :mod:`sana_streaming.text` should not.
"""

from __future__ import annotations

from pathlib import Path

import torch

from sana_streaming import hub
from sana_streaming.text.base import TextEncoderNotFoundError


def resolve_local_model(path: str | Path, what: str, hint: str) -> Path:
    """A model folder from a local path or a model id already in the local Hugging Face cache.

    Raises:
        TextEncoderNotFoundError: one line naming ``what`` was looked for, and ``hint``.
    """
    try:
        return hub.resolve_local_model(path, what, hint)
    except hub.WeightsNotFoundError as err:
        raise TextEncoderNotFoundError(str(err)) from None


def dtype_kwargs(dtype: torch.dtype) -> dict[str, torch.dtype]:
    """``from_pretrained`` keyword for the load dtype: ``dtype`` since transformers 4.56, ``torch_dtype`` before."""
    import transformers

    major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}


def load_failure(what: str, folder: Path, error: Exception) -> TextEncoderNotFoundError:
    """One-line error for a model folder that exists but does not load (missing or broken files)."""
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return TextEncoderNotFoundError(f"{what} could not be loaded from {folder}: {first_line}")
