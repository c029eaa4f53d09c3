"""Image folders in and out: order, timing, lossless PNG round trip, damaged images, bad destinations."""

import re

import av
import numpy as np
import pytest

from sana_streaming.io import ImageFolderSink, ImageFolderSource, VideoError, open_source
from sana_streaming.io.images import write_png

RNG = np.random.default_rng(0)


def test_folder_source_natural_order_and_default_fps(tmp_path):
    images = RNG.integers(0, 256, (3, 12, 20, 3), dtype=np.uint8)
    for name, image in zip(["f10.png", "f2.png", "f1.png"], images[::-1], strict=True):
        write_png(image, tmp_path / name)
    (tmp_path / "readme.txt").write_text("ignored")
    source = open_source(tmp_path)
    assert isinstance(source, ImageFolderSource)
    assert (source.fps, source.size, source.num_frames, source.live) == (16.0, (20, 12), 3, False)
    frames = list(source)
    assert [f.index for f in frames] == [0, 1, 2] and [f.time for f in frames] == [0, 1 / 16, 2 / 16]
    for frame, image in zip(frames, images, strict=True):  # f1, f2, f10
        assert np.array_equal(frame.image, image)
    assert open_source(tmp_path, fps=4).fps == 4


def test_folder_sink_round_trip(tmp_path):
    images = RNG.integers(0, 256, (4, 9, 13, 3), dtype=np.uint8)
    with ImageFolderSink(tmp_path / "out" / "frames") as sink:
        for image in images:
            sink.write(image)
        assert sink.frames_written == 4
    names = sorted(p.name for p in (tmp_path / "out" / "frames").iterdir())
    assert names == [f"frame_{i:06d}.png" for i in range(4)]
    frames = list(ImageFolderSource(tmp_path / "out" / "frames"))
    assert all(np.array_equal(f.image, image) for f, image in zip(frames, images, strict=True))


def test_damaged_image_stops_with_error(tmp_path):
    write_png(np.zeros((8, 8, 3), np.uint8), tmp_path / "a.png")
    write_png(np.zeros((8, 8, 3), np.uint8), tmp_path / "b.png")
    (tmp_path / "c.png").write_bytes(b"\x89PNG not really")
    source = open_source(tmp_path)
    assert len(list(source)) == 2
    assert re.fullmatch(rf"cannot read image {tmp_path}/c\.png \([^\n]+\)", source.error)


def test_empty_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("no images here")
    with pytest.raises(VideoError) as info:
        open_source(tmp_path)
    assert str(info.value) == f"no images (png, jpg, jpeg, bmp, webp) in folder {tmp_path}"


def test_folder_sink_on_a_file(tmp_path):
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(VideoError) as info:
        ImageFolderSink(tmp_path / "taken")
    assert str(info.value) == f"cannot write frames to folder {tmp_path}/taken (it is a file)"
    with pytest.raises(VideoError) as info:
        ImageFolderSink(tmp_path / "taken" / "frames")
    assert str(info.value) == f"cannot write frames to folder {tmp_path}/taken/frames (Not a directory)"


def test_folder_source_reads_jpeg_with_any_suffix_case(tmp_path):
    av.VideoFrame.from_ndarray(np.full((16, 24, 3), (200, 60, 30), np.uint8), format="rgb24").save(tmp_path / "a.jpg")
    (tmp_path / "a.jpg").rename(tmp_path / "b.JPEG")
    (frame,) = list(open_source(tmp_path))
    assert frame.image.shape == (16, 24, 3) and np.abs(frame.image.astype(int) - (200, 60, 30)).max() <= 6
