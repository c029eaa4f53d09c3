"""Clip files: lossless round trip, probing, windows read by seeking equal the sequentially decoded frames."""

import numpy as np
import pytest

from sana_streaming.io import VideoError, open_source
from sana_streaming.train.data.video import count_at_rate, probe, read_window, write_lossless
from tests.train.data.synthetic import moving_clip, sample_clip

CARPHONE = "carphone_pristine.mp4"


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    frames = np.random.default_rng(0).integers(0, 256, (40, 37, 51, 3), dtype=np.uint8)  # odd size, incompressible
    return frames, write_lossless(tmp_path_factory.mktemp("video") / "noisy.mkv", frames, 16)


def test_lossless_round_trip_and_probe(noisy):
    frames, path = noisy
    decoded = np.stack([frame.image for frame in open_source(path)])
    assert np.array_equal(decoded, frames)
    assert probe(path, count=True) == probe(path) == probe(path, count=False)
    info = probe(path, count=True)
    assert (info.width, info.height, info.fps, info.num_frames) == (51, 37, 16.0, 40)
    assert count_at_rate(path, 16) == 40 and count_at_rate(path, 8) == 20


@pytest.mark.parametrize("start", [0, 1, 7, 31])
def test_windows_at_the_stored_rate_are_exact(noisy, start):
    frames, path = noisy
    assert np.array_equal(read_window(path, start, 9, 16.0), frames[start : start + 9])


@pytest.mark.parametrize("fps", [10.0, 25.0])
def test_windows_at_another_rate_match_the_resampler(noisy, fps):
    _, path = noisy
    reference = np.stack([frame.image for frame in open_source(path, fps=fps)])
    assert count_at_rate(path, fps) == len(reference)
    for start in (0, 5, len(reference) - 9):
        assert np.array_equal(read_window(path, start, 9, fps), reference[start : start + 9])


def test_windows_of_a_real_h264_clip_match_sequential_decoding():
    path = sample_clip(CARPHONE)  # 29.97 fps H.264 with B-frames
    reference = np.stack([frame.image for frame in open_source(path, fps=16)])
    assert count_at_rate(path, 16) == len(reference)
    for start in (0, 23, len(reference) - 9):
        assert np.array_equal(read_window(path, start, 9, 16.0), reference[start : start + 9])


def test_errors(noisy, tmp_path):
    _, path = noisy
    with pytest.raises(VideoError) as info:
        read_window(path, 35, 9, 16.0)
    assert str(info.value) == f"{path} ends before frame 40 at 16 fps; needed frames 35..43 (from 2.19 s)"
    with pytest.raises(VideoError, match="video not found: "):
        probe(tmp_path / "missing.mkv")
    with pytest.raises(VideoError, match=r"lossless clips are written as \.mkv, got "):
        write_lossless(tmp_path / "x.mp4", moving_clip(2), 16)
    with pytest.raises(VideoError, match=r"frames must be \(T, H, W, 3\) uint8"):
        write_lossless(tmp_path / "x.mkv", moving_clip(2)[0], 16)
    (tmp_path / "bad.mkv").write_bytes(b"not a video")
    with pytest.raises(VideoError, match="not a video file: "):
        probe(tmp_path / "bad.mkv")
