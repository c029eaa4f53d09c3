"""StreamPool: streams placed on the least-loaded worker, each edited exactly as a lone editor would."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from sana_streaming.engine.editor import StreamingEditor
from sana_streaming.engine.pool import StreamPool

SPEC = {"model": "tiny", "resolution": (64, 32), "dtype": "float32"}


def frames(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 48, 80, 3), dtype=np.uint8)


@pytest.mark.filterwarnings("ignore:model 'tiny' has random weights", "ignore:VAE 'tiny' has random weights")
def test_streams_are_placed_and_edited_like_single_editors():
    first, second = frames(33 + 24, 1), frames(33 + 5, 2)
    with StreamPool(["cpu", "cpu"], **SPEC) as pool:
        a, b, c = (pool.open(p) for p in ("make it night", "pencil sketch", "make it night"))
        placed = [pool.workers.index(pool._placement[s]) for s in (a, b, c)]
        assert placed == [0, 1, 0]  # the least-loaded worker each time
        got_a = pool.push(a, first[:40]) + pool.push(a, first[40:]) + pool.flush(a)
        got_b = pool.push(b, second) + pool.flush(b)
        pool.close(c)
        d = pool.open("pencil sketch")
        assert pool.workers.index(pool._placement[d]) == 0  # c's place was freed
        with pytest.raises(ValueError, match="no open stream 2"):
            pool.push(c, first)
        with pytest.raises(RuntimeError, match=r"worker on cpu: PromptError"):
            pool.set_prompt(d, "   ")
    for video, prompt, got in ((first, "make it night", got_a), (second, "pencil sketch", got_b)):
        editor = StreamingEditor.from_pretrained("tiny", device="cpu", resolution=(64, 32), dtype="float32")
        editor.set_prompt(prompt)
        want = [f.image for f in editor.push(video) + editor.flush()]
        assert len(got) == len(video) and all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))


def test_a_worker_that_cannot_load_says_so():
    with pytest.raises(RuntimeError, match=r"worker on cpu: .*model not found"):
        StreamPool(["cpu"], model="no-such-model", timeout=120)
    with pytest.raises(ValueError, match="CUDA graphs"):
        StreamPool(["cpu"], model="tiny", cuda_graphs=True)


@pytest.mark.filterwarnings("ignore:model 'tiny' has random weights", "ignore:VAE 'tiny' has random weights")
def test_a_worker_that_dies_is_reported_at_once():
    with StreamPool(["cpu"], **SPEC) as pool:
        stream = pool.open("make it night")
        pool.workers[0].process.kill()
        with pytest.raises(RuntimeError, match=r"worker on cpu exited \(code -9\)"):
            pool.push(stream, frames(9, 0))


@pytest.mark.filterwarnings("ignore:model 'tiny' has random weights", "ignore:VAE 'tiny' has random weights")
def test_a_batching_worker_shares_model_calls_and_edits_each_stream_as_alone():
    prompts = ["make it night", "pencil sketch", "make it a watercolor painting"]
    videos = [frames(33 + 24 * 3 + 5, seed) for seed in range(3)]
    got: list[list[np.ndarray]] = [[] for _ in prompts]
    with StreamPool(["cpu"], batch=True, **SPEC) as pool:
        streams = [pool.open(p) for p in prompts]
        start = threading.Barrier(len(streams))

        def drive(k: int) -> None:
            start.wait()
            for a in range(0, len(videos[k]), 24):
                got[k] += pool.push(streams[k], videos[k][a : a + 24])
            got[k] += pool.flush(streams[k])

        threads = [threading.Thread(target=drive, args=(k,)) for k in range(len(streams))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = pool.worker_stats()[0]
    assert stats["chunks"] == 3 * 4 + 3  # 4 whole chunks and a flushed remainder a stream
    assert stats["shared_chunks"] > 0  # requests that waited together went through one model call
    for video, prompt, images in zip(videos, prompts, got, strict=True):
        editor = StreamingEditor.from_pretrained("tiny", device="cpu", resolution=(64, 32), dtype="float32")
        editor.set_prompt(prompt)
        want = [f.image for f in editor.push(video) + editor.flush()]
        assert len(images) == len(want)
        diff = np.abs(np.stack(images).astype(int) - np.stack(want).astype(int))
        assert diff.max() <= 1 and (diff == 0).mean() > 0.99  # batched float sums: one level of 255 at most
