"""PushSource: timing, copies, drop-oldest under a full queue, close(), a producer thread."""

import threading
import time

import numpy as np
import pytest
import torch

from sana_streaming.io import PushSource, VideoError


def frame(value: int) -> np.ndarray:
    return np.full((4, 6, 3), value, np.uint8)


def test_push_then_close_yields_everything_in_order():
    source = PushSource(16)
    assert source.live and source.fps == 16 and source.num_frames is None and source.size is None
    assert source.push(frame(1)) == 0
    assert source.push(np.stack([frame(2), frame(3)])) == 0
    assert source.push(torch.full((1, 3, 4, 6), 4 / 255)) == 0  # float, channels first
    source.close()
    frames = list(source)
    assert [int(f.image[0, 0, 0]) for f in frames] == [1, 2, 3, 4]
    assert [f.index for f in frames] == [0, 1, 2, 3] and [f.time for f in frames] == [0, 1 / 16, 2 / 16, 3 / 16]
    assert source.size == (6, 4) and source.error is None


def test_push_copies_the_callers_buffer_and_takes_explicit_times():
    source = PushSource(30)
    buffer = frame(7)
    source.push(buffer, times=1.25)
    buffer[:] = 99  # a capture loop reusing its buffer must not change what was queued
    source.push(np.stack([buffer, buffer]), times=[1.3, 1.4])
    source.close()
    frames = list(source)
    assert int(frames[0].image[0, 0, 0]) == 7 and [f.time for f in frames] == [1.25, 1.3, 1.4]


def test_full_queue_drops_oldest():
    source = PushSource(16, max_queued=4)
    dropped = [source.push(frame(i)) for i in range(10)]
    assert dropped == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1] and source.dropped == 6
    assert source.push(np.stack([frame(10), frame(11), frame(12)])) == 3 and source.dropped == 9
    source.close()
    assert [f.index for f in source] == [9, 10, 11, 12]


def test_push_after_close_and_bad_times():
    source = PushSource(16)
    with pytest.raises(VideoError) as info:
        source.push(np.stack([frame(1), frame(2)]), times=[0.0])
    assert str(info.value) == "push source: got 1 times for 2 frames"
    source.close()
    source.close()
    with pytest.raises(VideoError) as info:
        source.push(frame(1))
    assert str(info.value) == "cannot push to push source: it is closed"
    assert list(source) == []  # closed empty: ends quietly, no "no decodable frames" error


def test_consumer_blocks_until_a_producer_thread_pushes_and_closes():
    source = PushSource(16)

    def produce():
        for i in range(20):
            source.push(frame(i))
            time.sleep(0.002)
        source.close()

    producer = threading.Thread(target=produce)
    producer.start()
    received = [f.index for f in source]
    producer.join()
    assert received == list(range(20))


def test_bad_arguments():
    with pytest.raises(VideoError) as info:
        PushSource(0)
    assert str(info.value) == "fps for push source must be a positive number, got 0"
    with pytest.raises(VideoError) as info:
        PushSource(16, max_queued=0)
    assert str(info.value) == "max_queued must be at least 1, got 0"
