"""Edit families: shapes on any size, temporal stability, determinism, visible change, parameters and prompts;
the Gaussian blur against a literal loop reference."""

import json
import time

import numpy as np
import pytest
import torch

from sana_streaming.io import VideoError
from sana_streaming.train.data.edits import FAMILIES, get_family
from sana_streaming.train.data.filters import gaussian_blur
from tests.train.data.synthetic import moving_clip, textured_frame

NAMES = sorted(FAMILIES)
REQUIRED = (
    "black_and_white",
    "pencil_sketch",
    "cartoon",
    "watercolor",
    "night",
    "sepia_film",
    "warm_grading",
    "cool_grading",
    "invert",
    "posterize",
    "blur",
    "sharpen",
    "pixelate",
)
# Mean absolute change, in 8-bit levels, that every edit must make on the synthetic clip (the weakest, a cool
# grade at the bottom of its range, makes about 8.6).
MIN_MEAN_CHANGE = 6.0
# Generous bound for a 33-frame 384x224 clip on a busy 2-core CI machine; typical is 0.1-0.4 s.
MAX_SECONDS = 3.0


def corner_params(name: str, high: bool) -> dict:
    return {key: (spec.high if high else spec.low) for key, spec in FAMILIES[name].space.items()}


def test_registry_has_the_required_families():
    assert len(FAMILIES) >= 10 and set(REQUIRED) <= set(FAMILIES)
    assert all(family.name == name for name, family in FAMILIES.items())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", [(37, 29), (64, 48), (5, 3), (1, 1)])
def test_shape_and_dtype_on_any_size(name, size):
    family = FAMILIES[name]
    clip = moving_clip(3, size)
    out = family.apply(clip, family.sample_params(np.random.default_rng(1)))
    assert out.shape == clip.shape and out.dtype == np.uint8 and out.flags.c_contiguous


@pytest.mark.parametrize("name", NAMES)
def test_static_clip_gives_identical_frames(name):
    family = FAMILIES[name]
    static = np.repeat(textured_frame()[None], 5, axis=0)
    out = family.apply(static, family.sample_params(np.random.default_rng(2)))
    assert all(np.array_equal(out[0], frame) for frame in out[1:])


@pytest.mark.parametrize("name", NAMES)
def test_same_params_same_output_and_every_frame_uses_them(name):
    family = FAMILIES[name]
    clip = moving_clip(4)
    params = family.sample_params(np.random.default_rng(3))
    out = family.apply(clip, params)
    assert np.array_equal(out, family.apply(clip, dict(params)))
    # Each frame alone gives the same result: one parameter set, no dependence on neighbours or batch size.
    alone = np.concatenate([family.apply(clip[t : t + 1], params) for t in range(len(clip))])
    assert np.array_equal(out, alone)


@pytest.mark.parametrize("name", NAMES)
def test_visible_change(name):
    family = FAMILIES[name]
    clip = moving_clip(2)
    rng = np.random.default_rng(4)
    candidates = [family.sample_params(rng) for _ in range(4)] + [corner_params(name, False), corner_params(name, True)]
    for params in candidates:
        change = np.abs(family.apply(clip, params).astype(np.int16) - clip).mean()
        assert change >= MIN_MEAN_CHANGE, (params, change)


@pytest.mark.parametrize("name", NAMES)
def test_sample_params_vary_between_clips_stay_in_range_and_are_json(name):
    family = FAMILIES[name]
    rng = np.random.default_rng(5)
    draws = [family.sample_params(rng) for _ in range(8)]
    assert len({json.dumps(d, sort_keys=True) for d in draws}) > 1
    for params in draws:
        assert set(params) == set(family.space)
        assert json.loads(json.dumps(params)) == params
        for key, value in params.items():
            spec = family.space[key]
            assert type(value) is (int if spec.integer else float) and spec.low <= value <= spec.high
    assert family.sample_params(np.random.default_rng(6)) == family.sample_params(np.random.default_rng(6))


@pytest.mark.parametrize("name", NAMES)
def test_prompts(name):
    family = FAMILIES[name]
    for prompts in (family.prompts, family.reverse_prompts):
        assert len(prompts) >= 3 and len(set(prompts)) == len(prompts)
        assert all(isinstance(p, str) and p.strip() == p and len(p.split()) >= 2 for p in prompts)
    assert not set(family.prompts) & set(family.reverse_prompts)


@pytest.mark.parametrize("name", NAMES)
def test_speed_on_a_training_sized_clip(name):
    family = FAMILIES[name]
    clip = np.repeat(textured_frame((384, 224))[None], 33, axis=0)
    params = family.sample_params(np.random.default_rng(7))
    begin = time.perf_counter()
    family.apply(clip, params)
    assert time.perf_counter() - begin < MAX_SECONDS


def test_apply_errors():
    family = FAMILIES["blur"]
    with pytest.raises(VideoError) as info:
        family.apply(np.zeros((4, 4, 3), np.uint8), {"sigma": 2.0})
    assert str(info.value) == "edit 'blur' needs (T, H, W, 3) uint8 frames, got shape (4, 4, 3) and dtype uint8"
    with pytest.raises(ValueError, match=r"edit 'blur' got parameters \['sgima'\], expected exactly: sigma"):
        family.apply(moving_clip(1), {"sgima": 2.0})
    with pytest.raises(ValueError, match="parameter 'sigma' must be a finite number, got 'x'"):
        family.apply(moving_clip(1), {"sigma": "x"})
    with pytest.raises(ValueError, match=r"unknown edit family 'oil' \(known: black_and_white, "):
        get_family("oil")


def reference_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Literal 2-D Gaussian (radius ceil(3 sigma)) with clamped (replicated) edges, one pixel at a time."""
    radius = int(np.ceil(3 * sigma))
    taps = np.arange(-radius, radius + 1)
    weights = np.exp(-(taps**2) / (2 * sigma**2))
    weights /= weights.sum()
    height, width = image.shape
    out = np.zeros_like(image)
    for y in range(height):
        for x in range(width):
            for dy, wy in zip(taps, weights, strict=True):
                for dx, wx in zip(taps, weights, strict=True):
                    out[y, x] += wy * wx * image[min(max(y + dy, 0), height - 1), min(max(x + dx, 0), width - 1)]
    return out


@pytest.mark.parametrize(("size", "sigma"), [((9, 7), 1.3), ((3, 2), 2.0)])
def test_gaussian_blur_matches_reference(size, sigma):
    image = np.random.default_rng(8).random((size[1], size[0]))
    ours = gaussian_blur(torch.from_numpy(image).float()[None, None], sigma)[0, 0].double().numpy()
    assert np.isfinite(ours).all()
    assert np.abs(ours - reference_blur(image, sigma)).max() <= 1e-5
