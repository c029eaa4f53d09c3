"""Many edit streams over several devices: one worker process per device, one front that places streams.

Each worker loads the model parts once (``StreamingEditor.from_pretrained(**spec)`` on its device) and keeps
one editor per open stream, sharing those parts: a stream's caches are its own, the weights are not copied.
A new stream goes to the device with the fewest open streams. Calls on one stream are answered in order;
streams on different devices run in parallel when driven from different threads. Frames travel between the
processes as tensors in shared memory (``torch.multiprocessing``): a 24-frame chunk at 1280x704 is 65 MB each
way: there and back on 2 CPU cores, 1.4 s pickled through a pipe, 0.4 s in shared memory (a copy in the worker
included; ``benchmarks/pool_transport.py``).

    with StreamPool(["cuda:0", "cuda:1"], model="runs/student/final") as pool:
        stream = pool.open("make it a watercolor painting")
        edited = pool.push(stream, frames) + pool.flush(stream)   # (H, W, 3) uint8 images
        pool.close(stream)
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.multiprocessing as mp


@dataclass
class _Worker:
    device: str
    requests: object  # mp.Queue
    replies: object  # mp.Queue
    process: object  # mp.Process
    lock: threading.Lock
    streams: int = 0


class StreamPool:
    """Worker processes (one per device) that edit many streams; see the module docstring.

    Args:
        devices: one worker per entry ("cuda:0", "cuda:1", or "cpu" several times for tests).
        timeout: seconds to wait for a worker's answer (loading included) before giving up.
        spec: keyword arguments of :meth:`StreamingEditor.from_pretrained` (``device`` is set per worker;
            ``precision`` and ``compile`` apply to the shared parts; CUDA graphs hold one stream's buffers, so
            ``cuda_graphs`` is refused).
    """

    def __init__(self, devices: Sequence[str], timeout: float = 600.0, **spec) -> None:
        if not devices:
            raise ValueError("StreamPool needs at least one device")
        if spec.get("cuda_graphs"):
            raise ValueError("StreamPool streams share a model: CUDA graphs (one stream's buffers) do not apply")
        ctx = mp.get_context("spawn")  # CUDA cannot be forked
        self.timeout = timeout
        self.workers: list[_Worker] = []
        for device in devices:
            requests, replies = ctx.Queue(), ctx.Queue()
            process = ctx.Process(target=_serve, args=(device, spec, requests, replies), daemon=True)
            process.start()
            self.workers.append(_Worker(device, requests, replies, process, threading.Lock()))
        try:
            for worker in self.workers:  # wait until every worker has its model (or report why it has not)
                self._answer(worker)
        except BaseException:
            self.shutdown()
            raise
        self._placement: dict[int, _Worker] = {}
        self._next_id = 0
        self._lock = threading.Lock()

    def open(self, prompt: str, **editor_config) -> int:
        """A new stream with ``prompt`` on the least-loaded device; returns its id."""
        with self._lock:
            worker = min(self.workers, key=lambda w: w.streams)
            stream, self._next_id = self._next_id, self._next_id + 1
            worker.streams += 1
            self._placement[stream] = worker
        self._call(stream, "open", prompt, editor_config)
        return stream

    def device_of(self, stream: int) -> str:
        return self._worker(stream).device

    def push(self, stream: int, frames: np.ndarray) -> list[np.ndarray]:
        """Frames (T, H, W, 3) uint8 in; the edited frames that became ready out."""
        return _images(self._call(stream, "push", torch.from_numpy(np.ascontiguousarray(frames))))

    def flush(self, stream: int) -> list[np.ndarray]:
        """End the stream's input: its last edited frames."""
        return _images(self._call(stream, "flush"))

    def set_prompt(self, stream: int, prompt: str) -> None:
        self._call(stream, "prompt", prompt)

    def close(self, stream: int) -> None:
        """Forget the stream (its device takes new streams in its place)."""
        self._call(stream, "close")
        with self._lock:
            self._placement.pop(stream).streams -= 1

    def shutdown(self) -> None:
        for worker in self.workers:
            if worker.process.is_alive():
                worker.requests.put(("stop", None, ()))
        for worker in self.workers:
            worker.process.join(timeout=30)
            if worker.process.is_alive():
                worker.process.kill()
            # a request still queued for a dead worker must not hold this process at exit
            worker.requests.cancel_join_thread()
            worker.requests.close()
            worker.replies.close()

    def __enter__(self) -> StreamPool:
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    def _worker(self, stream: int) -> _Worker:
        try:
            return self._placement[stream]
        except KeyError:
            raise ValueError(f"no open stream {stream}") from None

    def _call(self, stream: int, verb: str, *args):
        worker = self._worker(stream)
        with worker.lock:
            worker.requests.put((verb, stream, args))
            return self._answer(worker)

    def _answer(self, worker: _Worker):
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                kind, value = worker.replies.get(timeout=1.0)
                break
            except queue.Empty:
                if not worker.process.is_alive():  # killed, or out of memory: say so instead of waiting
                    code = worker.process.exitcode
                    raise RuntimeError(f"worker on {worker.device} exited (code {code})") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker on {worker.device} did not answer within {self.timeout:g} s") from None
        if kind == "error":
            raise RuntimeError(f"worker on {worker.device}: {value}")
        return value


def _images(stacked: torch.Tensor | None) -> list[np.ndarray]:
    """The worker's (T, H, W, 3) uint8 tensor (shared memory) as the caller's list of images (views of it)."""
    return [] if stacked is None else list(stacked.numpy())


def _stacked(frames) -> torch.Tensor | None:
    """Edited frames as one tensor, which the queue hands over in shared memory; None when there are none."""
    return torch.from_numpy(np.stack([f.image for f in frames])) if frames else None


def _serve(device: str, spec: dict, requests, replies) -> None:
    """A worker: load the parts on ``device``, then answer requests until told to stop."""
    try:
        from sana_streaming.engine.editor import StreamingEditor

        base = StreamingEditor.from_pretrained(device=device, **spec)
    except Exception as err:  # the front reports it: one line naming the device
        replies.put(("error", f"{type(err).__name__}: {err}"))
        return
    replies.put(("ready", device))
    editors: dict[int, StreamingEditor] = {}
    while True:
        verb, stream, args = requests.get()
        if verb == "stop":
            return
        try:
            if verb == "open":
                prompt, changes = args
                config = dataclasses.replace(base.config, **changes)
                editor = StreamingEditor(base.model, base.vae, base.text_encoder, config)  # shares the weights
                editor.set_prompt(prompt)
                editors[stream] = editor
                result = None
            elif verb == "push":
                result = _stacked(editors[stream].push(args[0].numpy()))
            elif verb == "flush":
                result = _stacked(editors[stream].flush())
            elif verb == "prompt":
                editors[stream].set_prompt(args[0])
                result = None
            elif verb == "close":
                editors.pop(stream, None)
                result = None
            else:
                raise ValueError(f"unknown request {verb!r}")
            replies.put(("ok", result))
        except Exception as err:
            replies.put(("error", f"{type(err).__name__}: {err}"))
