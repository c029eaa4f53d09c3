"""``sana-streaming edit``: source -> editor -> sink, with progress, a finalised output and a report."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sana_streaming.engine.editor import StreamingEditor
from sana_streaming.io.base import VideoSource
from sana_streaming.io.sinks import open_sink
from sana_streaming.io.sources import open_source


@dataclass
class EditReport:
    """How an edit ended: frames written, why it stopped early (if it did), and the editor's statistics."""

    output: str
    frames_written: int = 0
    input_error: str | None = None
    interrupted: bool = False
    stats: dict = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if self.input_error else 0


def default_output(source: str) -> str:
    """``clip.mp4`` -> ``clip_edited.mp4`` next to it; a camera or URL -> ``edited.mp4`` here."""
    path = Path(source)
    if path.exists():
        return str(path.with_name(f"{path.stem}_edited.mp4"))
    return "edited.mp4"


def run_edit(
    editor: StreamingEditor,
    source: VideoSource | str,
    output: str,
    *,
    max_frames: int | None = None,
    progress: bool = True,
) -> EditReport:
    """Edit ``source`` (an opened source, or anything :func:`open_source` takes) into ``output``.

    The output is finalised however the edit ends; the source is closed.

    Raises:
        VideoError and friends for problems found before any frame is written (one-line messages).
    """
    report = EditReport(output)
    if not isinstance(source, VideoSource):
        source = open_source(source, fps=editor.config.fps)
    try:
        # The size comes from the first frame: an edit that yields no frame leaves no empty file behind.
        with open_sink(output, fps=editor.config.fps) as sink:
            bar = _progress_bar(source, editor, max_frames, progress)
            try:
                for frame in editor.edit(_limited(source, max_frames)):
                    sink.write(frame)
                    report.frames_written += 1
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix_str(_speed(editor), refresh=False)
            except KeyboardInterrupt:
                report.interrupted = True
            finally:
                if bar is not None:
                    bar.close()
        report.input_error = getattr(source, "error", None)
    finally:
        source.close()
    report.stats = editor.stats.summary()
    return report


def _limited(source, max_frames: int | None):
    for i, frame in enumerate(source):
        if max_frames is not None and i >= max_frames:
            break
        yield frame


def _expected_frames(source, editor: StreamingEditor, max_frames: int | None) -> int | None:
    count = getattr(source, "num_frames", None)
    if count is not None and max_frames is not None:
        count = min(count, max_frames)
    if count is None:
        return max_frames
    fps = getattr(source, "fps", None) or editor.config.fps
    return max(1, math.floor(count * editor.config.fps / fps + 1e-6)) if fps else count


def _progress_bar(source, editor, max_frames, enabled):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(
        total=_expected_frames(source, editor, max_frames),
        unit="frame",
        desc="editing",
        file=sys.stderr,
        dynamic_ncols=True,
        smoothing=0.1,
    )


def _speed(editor: StreamingEditor) -> str:
    summary = editor.stats.summary()
    fps = summary["processing_fps"]
    return f"{fps:.1f} fps" if fps else ""
