"""Reading a live source without letting latency grow: a background reader and a bounded buffer."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator

from sana_streaming.io.frames import VideoFrame


class LiveReader:
    """Pulls frames from a live source on a background thread into a buffer of at most ``capacity`` frames.

    Drop policy: when the consumer falls behind and the buffer is full, the OLDEST waiting frame is dropped
    (``stats.dropped`` counts them), so the edit always works on the most recent frames and the delay stays
    under ``capacity`` frames. An error of the source is raised to the consumer after the buffered frames.
    """

    def __init__(self, source: Iterable[VideoFrame], capacity: int, stats) -> None:
        self.source = source
        self.capacity = max(1, capacity)
        self.stats = stats
        self._frames: deque[VideoFrame] = deque()
        self._ready = threading.Condition()
        self._finished = False
        self._stop = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._read, name="live-source-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for frame in self.source:
                with self._ready:
                    if self._stop:
                        break
                    if len(self._frames) >= self.capacity:
                        self._frames.popleft()
                        self.stats.dropped += 1
                    self._frames.append(frame)
                    self._ready.notify()
        except BaseException as err:  # handed to the consuming thread
            self._error = err
        finally:
            with self._ready:
                self._finished = True
                self._ready.notify()

    def __iter__(self) -> Iterator[VideoFrame]:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._frames or self._finished)
                if not self._frames:
                    break
                frame = self._frames.popleft()
            yield frame
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Stop reading (the source is closed by its owner)."""
        with self._ready:
            self._stop = True
            self._ready.notify()
        close = getattr(self.source, "close", None)
        if close is not None:
            close()
        self._thread.join(timeout=5.0)
