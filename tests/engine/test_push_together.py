"""push_together: streams sharing one model, their due chunks denoised in one call, give what each gives alone."""

from __future__ import annotations

import numpy as np
import pytest

from sana_streaming.engine import editor as editor_module
from sana_streaming.engine.editor import push_together
from sana_streaming.io.frames import VideoError
from sana_streaming.models.state import StreamBatch
from tests.engine.test_editor import clip, editor, parts  # noqa: F401 (parts is a fixture)

PROMPTS = ["make it a watercolor painting", "make it night", "blur"]  # 3 prompt lengths: padded in a batch


def _editors(parts):  # noqa: F811
    eds = [editor(parts) for _ in PROMPTS]
    for ed, prompt in zip(eds, PROMPTS, strict=True):
        ed.set_prompt(prompt)
    return eds


def test_streams_pushed_together_equal_each_stream_alone(parts, monkeypatch):  # noqa: F811
    first, later = _editors(parts)[0].frames_per_chunk, 24
    videos = [clip(first + 4 * later, seed=k) for k in range(3)]
    alone = []
    for ed, video in zip(_editors(parts), videos, strict=True):
        alone.append(np.stack([f.image for f in ed.push(video)]))

    calls = []

    class Recording(StreamBatch):
        def __init__(self, states):
            calls.append([s.num_chunks for s in states])
            super().__init__(states)

    monkeypatch.setattr(editor_module, "StreamBatch", Recording)
    eds = _editors(parts)
    # stream 0 runs two chunks ahead and stream 1 one ahead of stream 2; the rest arrives in slices of 24 frames
    starts = [first + 2 * later, first + later, first]
    got = [ed.push(video[:n]) for ed, video, n in zip(eds, videos, starts, strict=True)]
    while any(n < len(v) for n, v in zip(starts, videos, strict=True)):
        slices = [v[n : n + later] for v, n in zip(videos, starts, strict=True)]
        for k, frames in enumerate(push_together(eds, slices)):
            got[k] += frames
        starts = [min(n + later, len(v)) for n, v in zip(starts, videos, strict=True)]
    # some call held streams at different chunks of their videos
    assert any(len(set(c)) > 1 for c in calls if len(c) > 1), calls
    for k in range(3):
        images = np.stack([f.image for f in got[k]])
        assert images.shape == alone[k].shape
        # float32 sums in another order in a batch: at most one level of 255 apart after rounding
        diff = np.abs(images.astype(int) - alone[k].astype(int))
        assert diff.max() <= 1 and (diff == 0).mean() > 0.99, (k, diff.max(), (diff == 0).mean())


def test_push_together_refuses_editors_on_different_models(parts):  # noqa: F811
    model, vae, text = parts
    eds = _editors(parts)
    other = editor((type(model)(model.cfg).eval(), vae, text))
    with pytest.raises(ValueError, match="share one model"):
        push_together([eds[0], other], [[], []])
    with pytest.raises(ValueError, match="frames for 1 streams and 2 editors"):
        push_together(eds[:2], [[]])


def test_bad_frames_of_one_stream_leave_every_stream_untouched(parts):  # noqa: F811
    eds = _editors(parts)[:2]
    with pytest.raises(VideoError):
        push_together(eds, [clip(9), np.full((9, 32, 48, 3), 5.0)])  # floats outside [0, 1] or [-1, 1]
    assert [ed.stats.frames_in for ed in eds] == [0, 0]
