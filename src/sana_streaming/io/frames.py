"""The frame type every source yields and every sink accepts, the user-facing error, and array normalisation."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch

# Decoders overshoot [0, 1] a little; values clearly outside mean the caller passed another range ([-1, 1], [0, 255]).
FLOAT_SLACK = 0.1
_CHANNELS = (1, 3, 4)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")  # still images the io layer reads


class VideoError(ValueError):
    """Bad video input or output. ``str(err)`` is one line meant for a user: it names the file or URL, the value
    and what was expected."""


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame.

    Attributes:
        image: (H, W, 3) uint8 RGB, C-contiguous.
        time: presentation time in seconds from the start of the stream.
        index: 0-based index of the frame as produced by its source.
    """

    image: np.ndarray
    time: float
    index: int

    def __post_init__(self) -> None:
        image = self.image
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise VideoError(f"VideoFrame.image must be an (H, W, 3) uint8 array, got {_describe(image)}")
        if not image.flags.c_contiguous:
            object.__setattr__(self, "image", np.ascontiguousarray(image))

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.image.shape[1], self.image.shape[0]


def to_uint8_rgb(frames: np.ndarray | torch.Tensor) -> np.ndarray:
    """Normalise one frame or a clip to uint8 RGB, channels last.

    Args:
        frames: numpy array or torch tensor (any device), one of
            (H, W) or (H, W, 1) gray, (H, W, C) / (C, H, W) one frame, (T, H, W, C) / (T, C, H, W) a clip,
            with C in {1 (gray), 3 (RGB), 4 (RGBA, alpha dropped)}; uint8, or float in [0, 1].
            When both layouts fit, channels last wins.

    Returns:
        (T, H, W, 3) uint8, C-contiguous, on the CPU. It may share memory with a uint8 CPU input. A GPU tensor is
        quantised on its device and then copied, which waits for it: call this at the io boundary, not in a step.

    Raises:
        VideoError: for any other shape, dtype or float range.
    """
    if isinstance(frames, torch.Tensor):
        array = _torch_to_uint8(frames)
    elif isinstance(frames, np.ndarray):
        array = _numpy_to_uint8(frames)
    else:
        raise VideoError(f"frames must be a numpy array or torch tensor, got {type(frames).__name__}")
    clip = _channels_last_clip(array)
    if clip.shape[-1] == 1:
        clip = np.repeat(clip, 3, axis=-1)
    return np.ascontiguousarray(clip[..., :3])


def check_size(size: tuple[int, int]) -> tuple[int, int]:
    """Validate a (width, height) pair of positive ints."""
    try:
        width, height = (int(v) for v in size)
    except (TypeError, ValueError):
        raise VideoError(f"size must be (width, height), got {size!r}") from None
    if width < 1 or height < 1:
        raise VideoError(f"size must be positive (width, height), got {size!r}")
    return width, height


def check_fps(fps: float, what: str) -> float:
    """Validate a positive frame rate; ``what`` names its owner in the message."""
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real) or not (0 < fps < math.inf):
        raise VideoError(f"fps for {what} must be a positive number, got {fps!r}")
    return float(fps)


def _numpy_to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if not np.issubdtype(array.dtype, np.floating):
        raise VideoError(f"frames must be uint8 or float in [0, 1], got dtype {array.dtype}")
    if array.size:
        _check_float_range(float(array.min()), float(array.max()))
    return (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _torch_to_uint8(tensor: torch.Tensor) -> np.ndarray:
    tensor = tensor.detach()
    if tensor.dtype == torch.uint8:
        return tensor.cpu().numpy()
    if not tensor.is_floating_point():
        raise VideoError(f"frames must be uint8 or float in [0, 1], got dtype {tensor.dtype}")
    if tensor.numel():
        low, high = torch.aminmax(tensor.float())
        _check_float_range(float(low), float(high))
    # Quantise on the tensor's own device so only uint8 crosses to the host (4x less traffic than float32).
    return (tensor.float().clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8).cpu().numpy()


def _check_float_range(low: float, high: float) -> None:
    # NaN fails both comparisons, so it is reported too.
    if not (low >= -FLOAT_SLACK and high <= 1.0 + FLOAT_SLACK):
        raise VideoError(f"float frames must be in [0, 1], got values in [{low:.3g}, {high:.3g}]")


def _channels_last_clip(array: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, C), (C, H, W), (T, H, W, C) or (T, C, H, W) -> (T, H, W, C) view."""
    shape = array.shape
    if array.ndim == 2:
        clip = array[None, :, :, None]
    elif array.ndim == 3 and shape[2] in _CHANNELS:
        clip = array[None]
    elif array.ndim == 3 and shape[0] in _CHANNELS:
        clip = array.transpose(1, 2, 0)[None]
    elif array.ndim == 4 and shape[3] in _CHANNELS:
        clip = array
    elif array.ndim == 4 and shape[1] in _CHANNELS:
        clip = array.transpose(0, 2, 3, 1)
    else:
        raise VideoError(
            f"frames must be (H, W), (H, W, C), (C, H, W), (T, H, W, C) or (T, C, H, W) with C in 1, 3, 4, "
            f"got shape {tuple(shape)}"
        )
    if 0 in clip.shape:
        raise VideoError(f"frames must not be empty, got shape {tuple(shape)}")
    return clip


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray | torch.Tensor):
        return f"{type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    return type(value).__name__
