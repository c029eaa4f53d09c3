"""fit_frame geometry, FrameRateResampler timing, side_by_side composition."""

import numpy as np
import pytest

from sana_streaming.io import FrameRateResampler, VideoError, VideoFrame, fit_frame, side_by_side


def square_pattern(size: tuple[int, int], side: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Mid-gray (H, W, 3) frame with a white rectangle of about side x side exactly in the middle (its sides take
    the parity of the frame's so it can be); returns the frame and the rectangle's (width, height)."""
    width, height = size
    rect_w, rect_h = side + (width - side) % 2, side + (height - side) % 2
    left, top = (width - rect_w) // 2, (height - rect_h) // 2
    image = np.full((height, width, 3), 128, np.uint8)
    image[top : top + rect_h, left : left + rect_w] = 255
    return image, (rect_w, rect_h)


def bright_centroid(image: np.ndarray) -> tuple[float, float]:
    """(x, y) centroid of the pixels brighter than mid-gray, in pixel-centre coordinates."""
    ys, xs = np.nonzero(image[..., 0] > 192)
    return xs.mean() + 0.5, ys.mean() + 0.5


def frames_at(times, fps=30.0):
    return [VideoFrame(np.full((2, 2, 3), i, np.uint8), t, i) for i, t in enumerate(times)]


@pytest.mark.parametrize(
    ("source", "target"), [((320, 180), (128, 128)), ((180, 320), (96, 64)), ((67, 45), (832, 480))]
)
@pytest.mark.parametrize("mode", ["crop", "letterbox"])
def test_fit_keeps_centre_and_aspect(source, target, mode):
    image, rect = square_pattern(source, min(source) // 3)
    out = fit_frame(image, target, mode)
    assert out.shape == (target[1], target[0], 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    cx, cy = bright_centroid(out)
    assert abs(cx - target[0] / 2) <= 1.0 and abs(cy - target[1] / 2) <= 1.0
    pick = max if mode == "crop" else min
    scale = pick(target[0] / source[0], target[1] / source[1])
    bright = out[..., 0] > 192
    assert abs(bright.any(axis=0).sum() - rect[0] * scale) <= 2 and abs(bright.any(axis=1).sum() - rect[1] * scale) <= 2


def test_letterbox_bars_are_black_and_content_fills_the_rest():
    out = fit_frame(np.full((180, 320, 3), 200, np.uint8), (128, 128), "letterbox")  # content 128 x 72
    assert (out[:28] == 0).all() and (out[100:] == 0).all()
    assert (out[28:100] == 200).all()
    portrait = fit_frame(np.full((320, 180, 3), 200, np.uint8), (128, 128), "letterbox")  # content 72 x 128
    assert (portrait[:, :28] == 0).all() and (portrait[:, 100:] == 0).all() and (portrait[:, 28:100] == 200).all()


def test_crop_removes_the_overflowing_sides():
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, :50] = 255  # left quarter white: fully cropped away when fitting to a square
    out = fit_frame(image, (100, 100), "crop")
    assert out.shape == (100, 100, 3) and out.max() == 0


def test_fit_is_exact_on_flat_colour_deterministic_and_identity_at_same_size():
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)
    assert np.array_equal(fit_frame(noisy, (64, 48)), fit_frame(noisy, (64, 48)))
    assert np.array_equal(fit_frame(noisy, (160, 90)), noisy)
    flat = np.full((90, 160, 3), (200, 60, 30), np.uint8)
    assert (fit_frame(flat, (61, 37)) == (200, 60, 30)).all()
    assert fit_frame(noisy, (50, 50), "stretch").shape == (50, 50, 3)


def test_fit_downscale_is_antialiased():
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes alias to solid black or white without a low-pass filter
    out = fit_frame(stripes, (16, 16))
    assert np.abs(out[:, 1:-1].astype(float) - 127.5).max() <= 2  # the outermost columns see the clamped edge


def test_fit_errors():
    image = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(VideoError) as info:
        fit_frame(image, (10, 10), "zoom")
    assert str(info.value) == "fit mode must be one of crop, letterbox, stretch, got 'zoom'"
    with pytest.raises(VideoError) as info:
        fit_frame(image, (0, 10))
    assert str(info.value) == "size must be positive (width, height), got (0, 10)"
    with pytest.raises(VideoError) as info:
        fit_frame(np.zeros((2, 10, 10, 3), np.uint8), (10, 10))
    assert str(info.value) == "expected one frame, got 2 frames of shape (10, 10, 3)"


def test_side_by_side():
    left = np.full((48, 64, 3), 10, np.uint8)
    right = np.full((48, 64, 3), 20, np.uint8)
    both = side_by_side(left, right)
    assert both.shape == (48, 128, 3) and (both[:, :64] == 10).all() and (both[:, 64:] == 20).all()
    small = side_by_side(left, np.full((24, 32, 3), 30, np.uint8))
    assert small.shape == (48, 128, 3) and (small[:, 64:] == 30).all()


def test_resample_30_to_16():
    resampler = FrameRateResampler(16)
    inputs = frames_at(np.arange(30) / 30)
    out = [f for frame in inputs for f in resampler.push(frame)] + resampler.flush(1.0)
    assert len(out) == 16
    assert [f.index for f in out] == list(range(16))
    np.testing.assert_allclose([f.time for f in out], np.arange(16) / 16)
    # Latest input at or before k / 16: floor(30 k / 16); k = 8 lands exactly on input 15.
    assert [int(f.image[0, 0, 0]) for f in out] == [(30 * k) // 16 for k in range(16)]
    assert int(out[8].image[0, 0, 0]) == 15


def test_resample_same_rate_is_identity_and_immediate():
    resampler = FrameRateResampler(16)
    for frame in frames_at(np.arange(20) / 16):
        (out,) = resampler.push(frame)  # one output per input, released at once
        assert out.image is frame.image and out.index == frame.index and out.time == pytest.approx(frame.time)
    assert resampler.flush(20 / 16) == []


def test_resample_variable_timestamps():
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.uniform(0.005, 0.12, 60))  # jittery capture, first frame late
    resampler = FrameRateResampler(16)
    inputs = frames_at(times)
    out = [f for frame in inputs for f in resampler.push(frame)] + resampler.flush(times[-1] + 0.05)
    assert [f.index for f in out] == list(range(len(out)))
    assert len(out) == int(np.ceil((times[-1] + 0.05) * 16 - 1e-9))
    for frame in out:
        shown = int(frame.image[0, 0, 0])
        latest = np.searchsorted(times, frame.time, side="right") - 1
        assert shown == max(latest, 0)  # outputs before the first input show the first input


def test_resampler_rejects_bad_fps():
    with pytest.raises(VideoError) as info:
        FrameRateResampler(-1)
    assert str(info.value) == "fps for FrameRateResampler must be a positive number, got -1"
