"""open_source / open_sink pick the right class for each kind of spec and reject the rest in one line."""

import pytest

from sana_streaming.io import (
    CallbackSink,
    FileSource,
    ImageFolderSink,
    ImageFolderSource,
    Mp4Sink,
    NetworkSink,
    VideoError,
    open_sink,
    open_source,
)
from sana_streaming.io.images import write_png
from tests.io.clips import index_frames, write_clip


def test_open_source_dispatch(tmp_path):
    clip = write_clip(tmp_path / "clip.mkv", index_frames(4), 16)
    assert isinstance(open_source(clip), FileSource)
    assert isinstance(open_source(str(clip)), FileSource)
    write_png(index_frames(1)[0], tmp_path / "frame.png")
    assert isinstance(open_source(tmp_path), ImageFolderSource)
    assert isinstance(open_source(tmp_path / "frame.png"), FileSource)  # FFmpeg reads a still as a 1-frame video


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (None, "unsupported input None: expected a path, a URL, 'webcam[:N]' or a camera index"),
        (True, "unsupported input True: expected a path, a URL, 'webcam[:N]' or a camera index"),
        (3.5, "unsupported input 3.5: expected a path, a URL, 'webcam[:N]' or a camera index"),
    ],
)
def test_open_source_rejects_other_types(spec, message):
    with pytest.raises(VideoError) as info:
        open_source(spec)
    assert str(info.value) == message


def test_open_sink_dispatch(tmp_path):
    for name in ("a.mp4", "b.MOV", "c.mkv"):
        with open_sink(tmp_path / name, fps=16) as sink:
            assert isinstance(sink, Mp4Sink)
            sink.write(index_frames(1))
    with open_sink(print, fps=16) as sink:
        assert isinstance(sink, CallbackSink)
    with open_sink(tmp_path / "frames", fps=16) as sink:
        assert isinstance(sink, ImageFolderSink) and (tmp_path / "frames").is_dir()
    with open_sink(str(tmp_path), fps=16) as sink:
        assert isinstance(sink, ImageFolderSink)
    with open_sink("udp://127.0.0.1:9", fps=16) as sink:  # no size: nothing is sent until the first frame
        assert (
            isinstance(sink, NetworkSink) and sink.name == "udp://127.0.0.1:9" and sink.url.endswith("?pkt_size=1316")
        )


def test_open_sink_errors(tmp_path):
    with pytest.raises(VideoError) as info:
        open_sink(tmp_path / "out.webm", fps=16)
    assert str(info.value) == (
        f"unsupported video file type '.webm': {tmp_path}/out.webm (expected .mp4, .mov, .mkv, a folder or a URL)"
    )
    with pytest.raises(VideoError) as info:
        open_sink(42, fps=16)
    assert str(info.value) == "unsupported output 42: expected a path, a URL or a callable"
    with pytest.raises(VideoError) as info:
        open_sink(tmp_path / "out.mp4", fps=-1)
    assert str(info.value) == f"fps for {tmp_path}/out.mp4 must be a positive number, got -1"
