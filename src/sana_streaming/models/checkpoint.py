"""Reading checkpoints safely and mapping the official SANA-Streaming weights onto our model.

Accepted files: ``.safetensors``, or ``.pth``/``.pt``/``.bin`` read with ``torch.load(weights_only=True)``
(never an arbitrary unpickle). Official ``.pth`` files may hold the weights under ``generator`` or
``state_dict`` or at the top level, with ``model.``/``module.`` prefixes.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from sana_streaming.models.config import ModelConfig

# Official entries our model does not carry: a sin-cos table left over from the image model (RoPE is used).
UNUSED_OFFICIAL_KEYS = ("pos_embed",)
_WRAPPER_KEYS = ("generator", "state_dict", "model")
_PREFIXES = ("module.", "model.")
_MAX_LISTED = 6


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line meant for the user."""


def _unwrap(obj: object, path: Path) -> dict[str, Tensor]:
    while isinstance(obj, dict) and not any(isinstance(v, Tensor) for v in obj.values()):
        inner = next((obj[k] for k in _WRAPPER_KEYS if k in obj), None)
        if inner is None:
            raise CheckpointError(f"{path}: no tensors found (top-level keys: {', '.join(map(str, obj))[:200]})")
        obj = inner
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a state dict of tensors, found {type(obj).__name__}")
    bad = [k for k, v in obj.items() if not isinstance(v, Tensor)]
    if bad:
        raise CheckpointError(f"{path}: entries that are not tensors: {', '.join(map(str, bad[:_MAX_LISTED]))}")
    return {_strip(k): v for k, v in obj.items()}


def _strip(key: str) -> str:
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Load a tensor state dict from disk (CPU), refusing anything that is not plain tensors."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; give the weights file (or use from_pretrained for a model folder)")
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as err:
            raise CheckpointError(f"{path}: not a readable safetensors file ({_first_line(err)})") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, ValueError) as err:
        raise CheckpointError(
            f"{path}: not a plain tensor checkpoint; refusing to unpickle arbitrary objects ({_first_line(err)})"
        ) from None
    return _unwrap(obj, path)


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0][:200] if text else type(err).__name__


def adapt_official(state: dict[str, Tensor], cfg: ModelConfig) -> dict[str, Tensor]:
    """Map an official state dict onto our layout for ``cfg``.

    Drops :data:`UNUSED_OFFICIAL_KEYS` and converts softmax q/k weights between the streaming layout
    (Conv1d kernel 3, only the centre tap acts) and the bidirectional layout (a plain matrix), whichever the
    checkpoint and ``cfg.softmax_qk_taps`` use. The side taps are never used, so they are zero when created.
    """
    state = {k: v for k, v in state.items() if k not in UNUSED_OFFICIAL_KEYS}
    taps = cfg.softmax_qk_taps
    for block in cfg.softmax_layers:
        for name in ("q", "k"):
            key = f"blocks.{block}.attn.{name}.weight"
            weight = state.get(key)
            if weight is None:
                continue  # reported by check_state_dict
            matrix = weight[:, :, weight.shape[2] // 2] if weight.dim() == 3 else weight
            if tuple(weight.shape) == ((*matrix.shape, taps) if taps else tuple(matrix.shape)):
                continue  # already in the target layout (side taps kept as they are)
            if taps:
                side = [torch.zeros_like(matrix)] * (taps // 2)
                matrix = torch.stack([*side, matrix, *side], dim=2)
            state[key] = matrix
    return state


def check_state_dict(model: nn.Module, state: dict[str, Tensor], source: str) -> None:
    """Raise one clear error naming missing, unexpected and wrong-shaped keys."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        f"{k} {tuple(state[k].shape)} (expected {expected[k]})"
        for k in set(expected) & set(state)
        if tuple(state[k].shape) != expected[k]
    )
    problems = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if items:
            more = f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
            problems.append(f"{len(items)} {label}: {', '.join(items[:_MAX_LISTED])}{more}")
    if problems:
        raise CheckpointError(f"{source} does not fit the model: " + "; ".join(problems))


def build_with_weights(
    make: Callable[[], nn.Module],
    state: dict[str, Tensor],
    source: str,
    *,
    dtype: torch.dtype,
    device: torch.device | str,
) -> nn.Module:
    """Build a module on the meta device (no memory, no init) and adopt ``state`` as its tensors, checked first."""
    with torch.device("meta"):
        model = make()
    check_state_dict(model, state, source)
    model.load_state_dict({k: v.to(device=device, dtype=dtype) for k, v in state.items()}, assign=True)
    return model.eval()


def save_folder(model: nn.Module, config, folder: str | Path) -> None:
    """Write ``config.json`` (via ``config.save``) and ``model.safetensors`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config.save(folder / "config.json")
    save_file(
        {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(folder / "model.safetensors")
    )


def load_weights_(model: nn.Module, state: dict[str, Tensor], source: str = "checkpoint") -> nn.Module:
    """Check ``state`` against ``model`` and copy it in (casting to each parameter's dtype)."""
    check_state_dict(model, state, source)
    model.load_state_dict(state, strict=True)
    return model
