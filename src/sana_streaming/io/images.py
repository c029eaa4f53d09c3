"""Folders of still images as a video: one image per frame, in natural name order."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from sana_streaming.io.base import VideoSink, VideoSource
from sana_streaming.io.decode import reason
from sana_streaming.io.frames import IMAGE_SUFFIXES, VideoError, VideoFrame, check_fps

DEFAULT_FOLDER_FPS = 16.0


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode one image file (any format FFmpeg reads; alpha dropped) to (H, W, 3) uint8 RGB."""
    try:
        with av.open(os.fspath(path)) as container:
            frame = next(container.decode(video=0), None)
            image = None if frame is None else frame.to_ndarray(format="rgb24")
    except (av.FFmpegError, OSError, IndexError) as err:  # IndexError: no video stream
        raise VideoError(f"cannot read image {path} ({reason(err)})") from None
    if image is None:
        raise VideoError(f"cannot read image {path} (no image data)")
    return np.ascontiguousarray(image)


def write_png(image: np.ndarray, path: str | os.PathLike) -> None:
    """Write (H, W, 3) uint8 RGB as a PNG file."""
    try:
        av.VideoFrame.from_ndarray(image, format="rgb24").save(os.fspath(path))
    except (av.FFmpegError, OSError) as err:
        raise VideoError(f"cannot write image {path} ({reason(err)})") from None


def _natural_key(path: Path) -> list[int | str]:
    # frame_2.png sorts before frame_10.png; zero-padded names keep their plain order.
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


class ImageFolderSource(VideoSource):
    """Images in a folder (png, jpg, jpeg, bmp, webp; natural name order), timed ``index / fps``.

    Images are decoded lazily; one that fails to decode stops iteration and sets ``error``. Images keep their own
    size (``size`` is the first image's); fit them with :func:`fit_frame` if they differ.
    """

    def __init__(self, folder: str | os.PathLike, *, fps: float = DEFAULT_FOLDER_FPS) -> None:
        folder = Path(folder)
        fps = check_fps(fps, str(folder))
        if not folder.is_dir():
            raise VideoError(f"input not found: {folder}")
        self.name = str(folder)
        self.fps = fps
        self.paths = sorted(
            (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()), key=_natural_key
        )
        if not self.paths:
            raise VideoError(f"no images ({', '.join(s[1:] for s in IMAGE_SUFFIXES)}) in folder {folder}")
        self.num_frames = len(self.paths)
        self._first = read_image(self.paths[0])
        self.size = (self._first.shape[1], self._first.shape[0])

    def _frames(self) -> Iterator[VideoFrame]:
        for index, path in enumerate(self.paths):
            try:
                image = self._first if index == 0 else read_image(path)
            except VideoError as err:
                self.error = str(err)
                return
            yield VideoFrame(image, index / self.fps, index)
        self._first = None


class ImageFolderSink(VideoSink):
    """Writes ``folder/frame_000000.png``, ``frame_000001.png``, ... (numbered by write order; the folder is created).

    Existing files with the same names are overwritten. ``fps`` only times raw arrays (as ImageFolderSource would).
    """

    def __init__(self, folder: str | os.PathLike, fps: float = DEFAULT_FOLDER_FPS) -> None:
        super().__init__(str(folder), fps)
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise VideoError(f"cannot write frames to folder {self.folder} (it is a file)")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise VideoError(f"cannot write frames to folder {self.folder} ({reason(err)})") from None

    def _write_frame(self, frame: VideoFrame) -> None:
        write_png(frame.image, self.folder / f"frame_{self.frames_written:06d}.png")
