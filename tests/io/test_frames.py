"""to_uint8_rgb accepts every documented layout and dtype and rejects the rest in one line; VideoFrame checks."""

import re

import numpy as np
import pytest
import torch

from sana_streaming.io import VideoError, VideoFrame, to_uint8_rgb

RNG = np.random.default_rng(0)
CLIP = RNG.integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)  # (T, H, W, 3): H, W not channel counts


@pytest.mark.parametrize(
    ("make", "tolerance"),
    [
        pytest.param(lambda c: c, 0, id="THWC-uint8"),
        pytest.param(lambda c: c.transpose(0, 3, 1, 2), 0, id="TCHW-uint8"),
        pytest.param(lambda c: c.astype(np.float32) / 255, 0, id="THWC-float32"),
        pytest.param(lambda c: torch.from_numpy(c), 0, id="torch-THWC-uint8"),
        pytest.param(lambda c: torch.from_numpy(c).permute(0, 3, 1, 2).double() / 255, 0, id="torch-TCHW-float64"),
        # bfloat16 keeps 8 significant bits: x / 255 comes back within one level.
        pytest.param(lambda c: torch.from_numpy(c).permute(0, 3, 1, 2).bfloat16() / 255, 1, id="torch-bfloat16"),
    ],
)
def test_clip_layouts_and_dtypes(make, tolerance):
    out = to_uint8_rgb(make(CLIP))
    assert out.shape == (2, 5, 7, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert np.abs(out.astype(int) - CLIP).max() <= tolerance


def test_single_frames_gray_and_rgba():
    image = CLIP[0]
    assert np.array_equal(to_uint8_rgb(image), image[None])
    assert np.array_equal(to_uint8_rgb(image.transpose(2, 0, 1)), image[None])
    gray = image[..., 0]
    for value in (gray, gray[..., None], gray[None]):
        assert np.array_equal(to_uint8_rgb(value), np.repeat(gray[None, ..., None], 3, axis=-1))
    rgba = np.concatenate([image, np.full((5, 7, 1), 9, np.uint8)], axis=-1)
    assert np.array_equal(to_uint8_rgb(rgba), image[None])
    assert np.array_equal(to_uint8_rgb(torch.from_numpy(rgba).permute(2, 0, 1)), image[None])


def test_float_rounding_and_slight_overshoot():
    values = np.array([0.0, 0.5, 1.0, 1.05, -0.05], np.float32).reshape(1, 5, 1)
    assert to_uint8_rgb(values)[0, 0, :, 0].tolist() == [0, 128, 255, 255, 0]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            np.zeros((5, 6, 7)),
            r"frames must be \(H, W\), \(H, W, C\), \(C, H, W\), \(T, H, W, C\) or \(T, C, H, W\) "
            r"with C in 1, 3, 4, got shape \(5, 6, 7\)",
        ),
        (np.zeros((2, 3, 4, 5, 3)), r"frames must be .* got shape \(2, 3, 4, 5, 3\)"),
        (np.zeros((0, 5, 7, 3), np.uint8), r"frames must not be empty, got shape \(0, 5, 7, 3\)"),
        (np.zeros((5, 7, 3), np.int32), r"frames must be uint8 or float in \[0, 1\], got dtype int32"),
        (torch.zeros(5, 7, 3, dtype=torch.bool), r"frames must be uint8 or float in \[0, 1\], got dtype torch.bool"),
        (np.full((5, 7, 3), 255.0), r"float frames must be in \[0, 1\], got values in \[255, 255\]"),
        (torch.full((5, 7, 3), -1.0), r"float frames must be in \[0, 1\], got values in \[-1, -1\]"),
        (np.full((5, 7, 3), np.nan), r"float frames must be in \[0, 1\], got values in \[nan, nan\]"),
        ([[1, 2, 3]], r"frames must be a numpy array or torch tensor, got list"),
    ],
)
def test_rejects_with_one_line(value, message):
    with pytest.raises(VideoError) as info:
        to_uint8_rgb(value)
    assert re.fullmatch(message, str(info.value)) and "\n" not in str(info.value)


def test_video_frame_validates_and_makes_contiguous():
    strided = CLIP[0][:, ::2]
    frame = VideoFrame(strided, 0.5, 3)
    assert frame.image.flags.c_contiguous and np.array_equal(frame.image, strided) and frame.size == (4, 5)
    with pytest.raises(VideoError) as info:
        VideoFrame(CLIP[0].astype(np.float32), 0.0, 0)
    assert (
        str(info.value)
        == "VideoFrame.image must be an (H, W, 3) uint8 array, got ndarray of shape (5, 7, 3) and dtype float32"
    )
