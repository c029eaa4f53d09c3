"""Reading a live source without letting latency grow: a background reader and a bounded buffer."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

from sana_streaming.io.frames import VideoFrame
from sana_streaming.io.push import FrameQueue


class LiveReader:
    """Pulls frames from a live source on a background thread into a buffer of at most ``capacity`` frames.

    Drop policy: when the consumer falls behind and the buffer is full, the OLDEST waiting frame is dropped
    (``dropped`` counts them), so the edit always works on the most recent frames and the delay stays under
    ``capacity`` frames. An error of the source is raised to the consumer after the buffered frames.
    """

    def __init__(self, source: Iterable[VideoFrame], capacity: int) -> None:
        self.source = source
        self._queue = FrameQueue(max(1, capacity))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._read, name="live-source-reader", daemon=True)
        self._thread.start()

    @property
    def dropped(self) -> int:
        return self._queue.dropped

    def _read(self) -> None:
        try:
            for frame in self.source:
                if self._stop.is_set():
                    break
                self._queue.put([frame])
        except BaseException as err:  # handed to the consuming thread
            self._error = err
        finally:
            self._queue.close()

    def __iter__(self) -> Iterator[VideoFrame]:
        yield from self._queue
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Stop reading (the source is closed by its owner) and wait briefly for the reader."""
        self._stop.set()
        self._queue.close()
        close = getattr(self.source, "close", None)
        if close is not None:
            close()
        self._thread.join(timeout=5.0)
