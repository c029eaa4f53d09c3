"""Mp4Sink round trips and finalisation (close, exception, KeyboardInterrupt, garbage collection, a killed process),
CallbackSink, and the errors of the sinks."""

import gc
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from sana_streaming.io import CallbackSink, Mp4Sink, VideoError, VideoFrame, open_source
from tests.io.clips import decoded_index, index_frames

REPO = Path(__file__).resolve().parents[2]


def decode(path: Path) -> tuple[list[VideoFrame], av.VideoStream]:
    """All frames of a file through FileSource, plus the stream as PyAV reports it."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        info = (stream.codec_context.pix_fmt, float(stream.average_rate), stream.width, stream.height)
    source = open_source(path)
    frames = list(source)
    assert source.error is None
    return frames, info


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_round_trip(tmp_path, suffix):
    clip = index_frames(24, (64, 48))
    path = tmp_path / f"out{suffix}"
    with Mp4Sink(path, 16) as sink:
        for image in clip:
            sink.write(image)
        assert sink.frames_written == 24
    frames, (pix_fmt, fps, width, height) = decode(path)
    assert (pix_fmt, fps, width, height) == ("yuv420p", 16.0, 64, 48)
    assert len(frames) == 24 and [decoded_index(f.image) for f in frames] == list(range(24))
    np.testing.assert_allclose([f.time for f in frames], np.arange(24) / 16, atol=1e-3)
    error = np.abs(np.stack([f.image for f in frames]).astype(float) - clip)
    assert error[:, : 48 // 2].mean() < 2.0  # the flat half; the noise quarter is lossy by design


def test_fractional_fps_size_up_front_and_torch_frames(tmp_path):
    path = tmp_path / "ntsc.mp4"
    with Mp4Sink(path, 30000 / 1001, size=(64, 48)) as sink:
        sink.write(torch.from_numpy(index_frames(10)).permute(0, 3, 1, 2).float() / 255)
    frames, (_, fps, width, height) = decode(path)
    assert len(frames) == 10 and fps == pytest.approx(29.97, abs=1e-3) and (width, height) == (64, 48)


def test_odd_size_keeps_exact_size(tmp_path):
    clip = index_frames(6, (67, 45))
    with Mp4Sink(tmp_path / "odd.mp4", 16) as sink:
        sink.write(clip)
    frames, (pix_fmt, _, width, height) = decode(tmp_path / "odd.mp4")
    assert (pix_fmt, width, height) == ("yuv444p", 67, 45)
    assert [decoded_index(f.image) for f in frames] == list(range(6))


@pytest.mark.parametrize("interrupt", [RuntimeError("model exploded"), KeyboardInterrupt()])
def test_playable_after_exception_mid_stream(tmp_path, interrupt):
    path = tmp_path / "partial.mp4"
    with pytest.raises(type(interrupt)), Mp4Sink(path, 16) as sink:
        for i, image in enumerate(index_frames(30)):
            if i == 21:
                raise interrupt
            sink.write(image)
    frames, (_, fps, width, height) = decode(path)
    assert (fps, width, height) == (16.0, 64, 48)
    assert [decoded_index(f.image) for f in frames] == list(range(21))


def test_finalised_when_garbage_collected(tmp_path):
    sink = Mp4Sink(tmp_path / "forgotten.mkv", 16)
    sink.write(index_frames(10))
    del sink
    gc.collect()
    frames, _ = decode(tmp_path / "forgotten.mkv")
    assert len(frames) == 10


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_killed_process_leaves_a_playable_file(tmp_path, suffix):
    """SIGKILL skips every finaliser; fragmented MP4 (and MKV) still play up to their last complete fragment."""
    path = tmp_path / f"killed{suffix}"
    script = f"""
        import os, signal
        from sana_streaming.io import Mp4Sink
        from tests.io.clips import index_frames
        sink = Mp4Sink({str(path)!r}, 8)
        sink.write(index_frames(30))
        os.kill(os.getpid(), signal.SIGKILL)
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=REPO, timeout=60, check=False)
    assert result.returncode == -signal.SIGKILL
    frames, (_, fps, width, height) = decode(path)
    assert (fps, width, height) == (8.0, 64, 48)
    assert len(frames) >= 8  # ~4 s written in 1 s fragments; the last fragment and the encoder's lookahead are lost
    assert [decoded_index(f.image) for f in frames] == list(range(len(frames)))


def test_zero_frames(tmp_path):
    Mp4Sink(tmp_path / "sized.mp4", 16, size=(64, 48)).close()
    assert open_source(tmp_path / "sized.mp4").size == (64, 48)  # valid, just empty
    Mp4Sink(tmp_path / "unsized.mp4", 16).close()
    assert not (tmp_path / "unsized.mp4").exists()


def test_write_after_close_and_size_change(tmp_path):
    path = tmp_path / "out.mp4"
    sink = Mp4Sink(path, 16)
    sink.write(np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(VideoError) as info:
        sink.write(np.zeros((32, 32, 3), np.uint8))
    assert str(info.value) == f"{path}: frame is 32x32, expected 64x48"
    sink.close()
    sink.close()
    with pytest.raises(VideoError) as info:
        sink.write(np.zeros((48, 64, 3), np.uint8))
    assert str(info.value) == f"cannot write to {path}: the sink is closed"
    assert len(decode(path)[0]) == 1


def test_unwritable_destination(tmp_path):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    with pytest.raises(VideoError) as info:
        Mp4Sink(tmp_path / "blocker" / "out.mp4", 16)
    assert str(info.value) == f"cannot write {tmp_path}/blocker/out.mp4 ({tmp_path}/blocker is a file)"


def test_bad_arguments(tmp_path):
    with pytest.raises(VideoError) as info:
        Mp4Sink(tmp_path / "out.avi", 16)
    assert str(info.value) == f"unsupported video file type '.avi': {tmp_path}/out.avi (expected .mp4, .mov or .mkv)"
    with pytest.raises(VideoError) as info:
        Mp4Sink(tmp_path / "out.mp4", 0)
    assert str(info.value) == f"fps for {tmp_path}/out.mp4 must be a positive number, got 0"
    assert not (tmp_path / "out.mp4").exists()
    with pytest.raises(VideoError) as info:
        Mp4Sink(tmp_path / "out.mp4", 16, size=(64, -2))
    assert str(info.value) == "size must be positive (width, height), got (64, -2)"


def test_callback_sink():
    received = []
    with CallbackSink(received.append, fps=10) as sink:
        sink.write(VideoFrame(np.zeros((2, 2, 3), np.uint8), 3.5, 42))
        sink.write(np.ones((2, 2, 2, 3), np.uint8))
    assert [(f.time, f.index) for f in received] == [(3.5, 42), (0.1, 1), (0.2, 2)] and sink.frames_written == 3
    with pytest.raises(VideoError) as info:
        CallbackSink(received.append).write(np.zeros((2, 2, 3), np.uint8))
    assert str(info.value) == "list.append needs fps to time raw arrays; pass fps= or write VideoFrame objects"
    with pytest.raises(VideoError) as info:
        CallbackSink("not callable")
    assert str(info.value) == "CallbackSink needs a callable, got str"


def test_sink_files_are_not_left_open(tmp_path):
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    for i in range(5):
        with Mp4Sink(tmp_path / f"{i}.mp4", 16) as sink:
            sink.write(index_frames(2))
    if before is not None:
        assert len(os.listdir("/proc/self/fd")) <= before
