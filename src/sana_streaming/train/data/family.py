"""What an edit family is: prompts, a parameter space sampled once per clip, and a deterministic per-frame edit."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from sana_streaming.io.frames import VideoError
from sana_streaming.train.data.filters import to_float, to_uint8

# Frames edited per tensor batch: bounds memory on long clips; per-frame edits make the result independent of it.
_CHUNK_FRAMES = 32
# Sampled floats are rounded so a manifest reads well and re-applying its JSON values reproduces a clip exactly.
_DECIMALS = 4


@dataclass(frozen=True)
class ParamRange:
    """Where a parameter is sampled from: uniform in [low, high], or a uniform integer in [low, high] inclusive."""

    low: float
    high: float
    integer: bool = False

    def sample(self, rng: np.random.Generator) -> float | int:
        if self.integer:
            return int(rng.integers(int(self.low), int(self.high) + 1))
        return round(float(rng.uniform(self.low, self.high)), _DECIMALS)


@dataclass(frozen=True)
class EditFamily:
    """One kind of classical edit.

    Attributes:
        name: registry key, e.g. "pencil_sketch".
        prompts: phrasings of the forward instruction, as a user would type them.
        reverse_prompts: phrasings of the instruction that restores the original look.
        space: parameter name -> sampling range.
        transform: the edit, (T, 3, H, W) float32 in [0, 1] and params -> (T, 3, H, W) float32 (clamped later).
    """

    name: str
    prompts: tuple[str, ...]
    reverse_prompts: tuple[str, ...]
    space: Mapping[str, ParamRange] = field(hash=False)
    transform: Callable[[torch.Tensor, Mapping[str, float]], torch.Tensor] = field(repr=False)

    def sample_params(self, rng: np.random.Generator) -> dict:
        """Draw this family's parameters (JSON-serialisable ints and floats); the caller keeps them for a whole
        clip, which is what makes the edit temporally stable."""
        return {name: spec.sample(rng) for name, spec in self.space.items()}

    @torch.no_grad()
    def apply(self, frames: np.ndarray, params: Mapping[str, float]) -> np.ndarray:
        """Edit every frame with the same parameters.

        Args:
            frames: (T, H, W, 3) uint8 RGB, any H and W.
            params: exactly the keys of ``space`` (e.g. from ``sample_params`` or a manifest), numbers.

        Returns:
            (T, H, W, 3) uint8, C-contiguous; frame t depends only on input frame t and ``params``.
        """
        _check_frames(frames, self.name)
        values = self._check_params(params)
        chunks = [
            to_uint8(self.transform(to_float(frames[i : i + _CHUNK_FRAMES]), values))
            for i in range(0, frames.shape[0], _CHUNK_FRAMES)
        ]
        return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)

    def _check_params(self, params: Mapping[str, float]) -> dict[str, float]:
        if not isinstance(params, Mapping):
            raise ValueError(f"edit '{self.name}' needs a dict of parameters, got {type(params).__name__}")
        missing = [name for name in self.space if name not in params]
        unknown = [name for name in params if name not in self.space]
        if missing or unknown:
            expected = ", ".join(self.space) or "none"
            raise ValueError(
                f"edit '{self.name}' got parameters {sorted(params)}, expected exactly: {expected} "
                f"(missing {missing}, unknown {unknown})"
            )
        for name, value in params.items():
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
                raise ValueError(f"edit '{self.name}': parameter '{name}' must be a finite number, got {value!r}")
        return {name: float(value) for name, value in params.items()}


def _check_frames(frames: np.ndarray, name: str) -> None:
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
        shape = getattr(frames, "shape", None)
        dtype = getattr(frames, "dtype", type(frames).__name__)
        raise VideoError(f"edit '{name}' needs (T, H, W, 3) uint8 frames, got shape {shape} and dtype {dtype}")
    if 0 in frames.shape:
        raise VideoError(f"edit '{name}' needs at least one non-empty frame, got shape {frames.shape}")
