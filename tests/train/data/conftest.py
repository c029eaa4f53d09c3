"""A small paired dataset made once per session from real clips and stills, shared by the make_pairs and dataset
tests."""

from __future__ import annotations

import numpy as np
import pytest

from sana_streaming.io import open_source
from sana_streaming.io.images import write_png
from sana_streaming.train.data.make_pairs import make_pairs
from tests.train.data.synthetic import sample_clip, textured_frame

PAIR_FRAMES = 9
PAIR_SIZE = (96, 64)
CLIPS_PER_INPUT = 4


@pytest.fixture(scope="session")
def pair_inputs(tmp_path_factory) -> list[str]:
    """bikes.mp4 (640x272, 25 fps), carphone (176x144, 29.97 fps), a photo-like PNG and a synthetic .npy still."""
    folder = tmp_path_factory.mktemp("inputs")
    with open_source(sample_clip("bigbuckbunny.mp4")) as source:
        still = next(iter(source)).image
    write_png(still, folder / "bunny.png")
    np.save(folder / "texture.npy", textured_frame((150, 110)))
    return [
        sample_clip("bikes.mp4"),
        sample_clip("carphone_pristine.mp4"),
        str(folder / "bunny.png"),
        str(folder / "texture.npy"),
    ]


@pytest.fixture(scope="session")
def pairs_manifest(tmp_path_factory, pair_inputs):
    """The manifest of 16 pairs (every family at least once), 9 frames of 96x64 at 16 fps, seed 0."""
    out = tmp_path_factory.mktemp("pairs")
    return make_pairs(
        pair_inputs,
        out,
        clips_per_input=CLIPS_PER_INPUT,
        frames=PAIR_FRAMES,
        images_frames=PAIR_FRAMES,
        size=PAIR_SIZE,
        progress=False,
    )
