"""Resolving what the user names (a preset, a folder, an official checkpoint, a cached model id) into parts.

Nothing is downloaded: weights come from local paths or the local Hugging Face cache.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from sana_streaming import hub
from sana_streaming.hub import WeightsNotFoundError, resolve_local_model
from sana_streaming.models.config import PRESETS, get_config
from sana_streaming.models.transformer import SanaStreamingTransformer
from sana_streaming.text.base import CachedTextEncoder, TextEncoder
from sana_streaming.vae.autoencoder import VideoAutoencoder
from sana_streaming.vae.config import VAE_PRESETS, get_vae_config

OFFICIAL_VAE_ID = "Lightricks/LTX-2"
OFFICIAL_TEXT_ID = "google/gemma-2-2b-it"
_CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")


@dataclass
class Loaded:
    """A loaded part and notes for the user (e.g. that its weights are random)."""

    part: object
    notes: list[str]


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but no CUDA device is available here")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    choices = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in choices:
        raise ValueError(f"unknown dtype {dtype!r}; choose auto, {', '.join(choices)}")
    return choices[dtype]


def load_model(spec: str, *, preset: str | None, device: torch.device, dtype: torch.dtype, seed: int = 0) -> Loaded:
    """A DiT from a preset name (random weights), a folder from save_pretrained, or an official checkpoint."""
    if spec == "default":
        if not (hub.DEFAULT_WEIGHTS / "model" / "config.json").is_file():
            raise ValueError(
                "the trained default model is not in this install; use --model tiny (random weights), a model folder, "
                "or an official SANA-Streaming checkpoint"
            )
        spec = str(hub.DEFAULT_WEIGHTS / "model")
    path = Path(spec).expanduser()
    if path.is_dir():
        return Loaded(SanaStreamingTransformer.from_pretrained(path, dtype=dtype, device=device), [])
    if path.is_file() and path.suffix in _CHECKPOINT_SUFFIXES:
        model = SanaStreamingTransformer.from_official(
            path, preset or "sana-streaming-2b-720p", dtype=dtype, device=device
        )
        return Loaded(model, [])
    if spec in PRESETS:
        torch.manual_seed(seed)
        model = SanaStreamingTransformer(get_config(spec)).to(device=device, dtype=dtype).eval()
        return Loaded(model, [f"model {spec!r} has random weights: the output is not a real edit"])
    raise ValueError(
        f"model not found: {spec!r} is not a preset ({', '.join(PRESETS)}), a model folder or a checkpoint file"
    )


def editor_defaults(model_spec: str) -> dict:
    """The editor settings a model folder recommends: its ``editor.json`` ({EditorConfig field: value}); the
    default model's turns on the source-guided refinement. Empty for presets, checkpoints and folders without
    one."""
    from sana_streaming.engine.editor import EditorConfig

    folder = hub.DEFAULT_WEIGHTS / "model" if model_spec == "default" else Path(model_spec).expanduser()
    path = folder / "editor.json"
    if not path.is_file():
        return {}
    settings = json.loads(path.read_text())
    known = {field.name for field in dataclasses.fields(EditorConfig)}
    if not isinstance(settings, dict) or set(settings) - known:
        unknown = sorted(set(settings) - known) if isinstance(settings, dict) else settings
        raise ValueError(f"{path}: not editor settings (unknown: {unknown}); fields are {', '.join(sorted(known))}")
    return settings


def vae_spec_for(model_spec: str, vae_spec: str | None) -> str | None:
    """The VAE a model needs when none is named: the default model comes with its own."""
    return "default" if vae_spec is None and model_spec == "default" else vae_spec


def load_vae(spec: str | None, model: SanaStreamingTransformer, *, device: torch.device, dtype: torch.dtype) -> Loaded:
    """The causal streaming VAE: a preset (random weights), a diffusers-layout folder, or a cached model id."""
    if spec is None:  # a tiny model's VAE preset of the same name, else the one its latent channels fit
        name = model.cfg.name if model.cfg.name in VAE_PRESETS else "tiny"
        spec = name if model.cfg.in_channels == VAE_PRESETS[name].latent_channels else OFFICIAL_VAE_ID
    if spec == "default":
        if not (hub.DEFAULT_WEIGHTS / "vae" / "config.json").is_file():
            raise ValueError("the trained default VAE is not in this install; use --vae tiny or a VAE folder")
        spec = str(hub.DEFAULT_WEIGHTS / "vae")
    if spec in VAE_PRESETS:
        torch.manual_seed(0)
        vae = VideoAutoencoder(get_vae_config(spec)).to(device=device, dtype=dtype).eval()
        return Loaded(vae, [f"VAE {spec!r} has random weights"])
    folder = resolve_local_model(
        spec, "the VAE", "pass --vae with a folder holding config.json and the weights", subfolders=("vae",)
    )
    trained_causal = bool(json.loads((folder / "config.json").read_text()).get("decoder_causal", False))
    vae = VideoAutoencoder.from_pretrained(folder, causal_decoder=True, dtype=dtype, device=device)
    notes = (
        []
        if trained_causal
        else [
            "this VAE's decoder was trained bidirectional; it streams causally with remapped temporal kernels "
            "(the paper's initialisation), at some cost in quality: prefer the distilled causal decoder"
        ]
    )
    return Loaded(vae, notes)


def load_text_encoder(spec: str | None, model: SanaStreamingTransformer, *, device: torch.device) -> Loaded:
    """MiniLM (default, ships with the package) or Gemma-2-2B-IT (official) from a folder or the local cache, or
    features precomputed for known prompts ("features:PATH", see ``sana-streaming text-features``)."""
    from sana_streaming.text.gemma import GemmaTextEncoder
    from sana_streaming.text.minilm import MiniLMTextEncoder

    if spec is None:
        spec = "minilm" if model.cfg.caption_channels == 384 else "gemma"
    if spec == "minilm":
        encoder: TextEncoder = MiniLMTextEncoder(max_tokens=model.cfg.caption_length, device=device)
    elif spec == "gemma":
        encoder = GemmaTextEncoder(OFFICIAL_TEXT_ID, device=device)
    elif spec.startswith("gemma:"):
        encoder = GemmaTextEncoder(spec.removeprefix("gemma:"), device=device)
    elif spec.startswith("features:"):
        from sana_streaming.text.precomputed import PrecomputedTextEncoder

        encoder = PrecomputedTextEncoder(spec.removeprefix("features:"))
        if encoder.feature_dim != model.cfg.caption_channels:
            raise ValueError(
                f"{spec}: {encoder.feature_dim}-wide features, the model expects {model.cfg.caption_channels}"
            )
    elif Path(spec).expanduser().is_dir():
        config = Path(spec).expanduser() / "config.json"
        kind = json.loads(config.read_text()).get("model_type", "") if config.is_file() else ""
        if kind.startswith("gemma"):
            encoder = GemmaTextEncoder(spec, device=device)
        else:
            encoder = MiniLMTextEncoder(spec, max_tokens=model.cfg.caption_length, device=device)
    else:
        raise WeightsNotFoundError(
            f"text encoder not found: {spec!r} (use minilm, gemma, gemma:PATH, features:PATH or a folder)"
        )
    return Loaded(CachedTextEncoder(encoder), [])


def default_resolution(vae: VideoAutoencoder) -> tuple[int, int]:
    """(width, height): the official 1280x704 for a 32x VAE, 384x224 for the tiny 16x one."""
    return (1280, 704) if vae.cfg.spatial_compression >= 32 else (384, 224)
