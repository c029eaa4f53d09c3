"""Many edit streams over several devices: one worker process per device, one front that places streams.

Each worker loads the model parts once (``StreamingEditor.from_pretrained(**spec)`` on its device) and keeps
one editor per open stream, sharing those parts: a stream's caches are its own, the weights are not copied.
A new stream goes to the device with the fewest open streams. Calls on one stream are answered in order;
streams on different devices run in parallel when driven from different threads. Frames travel between the
processes as tensors in shared memory (``torch.multiprocessing``): a 24-frame chunk at 1280x704 is 65 MB each
way: there and back on 2 CPU cores, 1.4 s pickled through a pipe, 0.4 s in shared memory (a copy in the worker
included; ``benchmarks/pool_transport.py``).

With ``batch=True`` a worker gathers the requests waiting in its queue and denoises the chunks of its streams
that are due together in one model call (:func:`push_together`: streams at different points of their videos
included), which is what serves many streams a GPU; each stream's frames are what it would get alone.

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
    lock: threading.Lock  # guards ``waiting`` and the reading of ``replies``
    streams: int = 0
    waiting: dict = dataclasses.field(default_factory=dict)  # request id -> its reply, once read


class StreamPool:
    """Worker processes (one per device) that edit many streams; see the module docstring.

    Args:
        devices: one worker per entry ("cuda:0", "cuda:1", or "cpu" several times for tests).
        timeout: seconds to wait for a worker's answer (loading included) before giving up.
        batch: denoise the due chunks of a worker's streams in one model call (see the module docstring).
        batch_wait: with ``batch``, how long (seconds) a worker holds a push for the other open streams' pushes
            to arrive: without it, streams driven in lockstep would take turns and never meet.
        spec: keyword arguments of :meth:`StreamingEditor.from_pretrained` (``device`` is set per worker;
            ``precision`` and ``compile`` apply to the shared parts; CUDA graphs hold one stream's buffers, so
            ``cuda_graphs`` is refused).
    """

    def __init__(
        self, devices: Sequence[str], timeout: float = 600.0, batch: bool = False, batch_wait: float = 0.05, **spec
    ) -> None:
        if not devices:
            raise ValueError("StreamPool needs at least one device")
        if spec.get("cuda_graphs"):
            raise ValueError("StreamPool streams share a model: CUDA graphs (one stream's buffers) do not apply")
        ctx = mp.get_context("spawn")  # CUDA cannot be forked
        self.timeout = timeout
        self.workers: list[_Worker] = []
        for device in devices:
            requests, replies = ctx.Queue(), ctx.Queue()
            process = ctx.Process(
                target=_serve, args=(device, spec, requests, replies, batch_wait if batch else None), daemon=True
            )
            process.start()
            self.workers.append(_Worker(device, requests, replies, process, threading.Lock()))
        self._placement: dict[int, _Worker] = {}
        self._next_id = 0
        self._next_request = 0
        self._lock = threading.Lock()
        try:
            for worker in self.workers:  # wait until every worker has its model (or report why it has not)
                self._answer(worker, None)
        except BaseException:
            self.shutdown()
            raise

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

    def worker_stats(self) -> list[dict]:
        """Per worker: ``chunks`` denoised and ``shared_chunks``, those denoised in one call with other streams'."""
        return [self._request(worker, "stats", None) for worker in self.workers]

    def close(self, stream: int) -> None:
        """Forget the stream (its device takes new streams in its place)."""
        self._call(stream, "close")
        with self._lock:
            self._placement.pop(stream).streams -= 1

    def shutdown(self) -> None:
        for worker in self.workers:
            if worker.process.is_alive():
                worker.requests.put(("stop", None, (), None))
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
        return self._request(self._worker(stream), verb, stream, *args)

    def _request(self, worker: _Worker, verb: str, stream: int | None, *args):
        """Send a request and wait for its own reply: several threads may wait on one worker at once."""
        with self._lock:
            request, self._next_request = self._next_request, self._next_request + 1
        worker.requests.put((verb, stream, args, request))
        return self._answer(worker, request)

    def _answer(self, worker: _Worker, request: int | None):
        """The reply to ``request`` (None: the worker's start). Whoever holds the worker's lock reads its reply
        queue and files every reply under its request id; the others find theirs there."""
        deadline = time.monotonic() + self.timeout
        while True:
            with worker.lock:
                if request in worker.waiting:
                    kind, value = worker.waiting.pop(request)
                    break
                try:
                    got, kind, value = worker.replies.get(timeout=0.05)
                except queue.Empty:
                    got = kind = value = None
                if got == request and kind is not None:
                    break
                if kind is not None:
                    worker.waiting[got] = (kind, value)
                    continue
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


def _serve(device: str, spec: dict, requests, replies, batch_wait: float | None = None) -> None:
    """A worker: load the parts on ``device``, then answer requests until told to stop (batching them unless
    ``batch_wait`` is None)."""
    try:
        from sana_streaming.engine.editor import StreamingEditor

        base = StreamingEditor.from_pretrained(device=device, **spec)
    except Exception as err:  # the front reports it: one line naming the device
        replies.put((None, "error", f"{type(err).__name__}: {err}"))
        return
    replies.put((None, "ready", device))
    worker = _Serving(base)
    while True:
        waiting = [requests.get()]
        if batch_wait is not None:
            waiting += _gather(requests, waiting, len(worker.editors), batch_wait)
        if any(verb == "stop" for verb, *_ in waiting):
            return
        for request, reply in worker.answer(waiting):
            replies.put((request, *reply))


def _gather(requests, waiting: list, streams: int, wait: float) -> list:
    """More requests for this round: while a push waits, up to ``wait`` seconds for every open stream's push,
    then whatever else is queued."""
    more = []
    deadline = time.monotonic() + wait
    while True:
        pushing = {stream for verb, stream, *_ in waiting + more if verb == "push"}
        left = deadline - time.monotonic()
        if not pushing or len(pushing) >= streams or left <= 0:
            break
        try:
            more.append(requests.get(timeout=left))
        except queue.Empty:
            break
    while True:
        try:
            more.append(requests.get_nowait())
        except queue.Empty:
            return more


class _Serving:
    """A worker's editors and how it answers a round of requests (in order; pushes to distinct streams
    that are next to each other in the round go through one :func:`push_together`)."""

    def __init__(self, base) -> None:
        self.base = base
        self.editors: dict = {}
        self.chunks = 0
        self.shared_chunks = 0

    def answer(self, waiting: list) -> list[tuple[int, tuple[str, object]]]:
        replies, pushes = [], []
        for verb, stream, args, request in waiting:
            if verb == "push" and all(s != stream for _, s, _, _ in pushes):
                pushes.append((verb, stream, args, request))
                continue
            replies += self._pushes(pushes)
            pushes = [(verb, stream, args, request)] if verb == "push" else []
            if verb != "push":
                replies.append((request, self._one(verb, stream, args)))
        return replies + self._pushes(pushes)

    def _pushes(self, pushes: list) -> list[tuple[int, tuple[str, object]]]:
        """One push_together for the round's pushes; a stream whose request is bad fails alone."""
        from sana_streaming.engine.editor import push_together

        replies, valid = [], []
        for _, stream, args, request in pushes:
            try:
                editor = self.editors[stream]
                valid.append((editor, editor.check_frames(args[0].numpy()), request))
            except Exception as err:
                replies.append((request, ("error", f"{type(err).__name__}: {err}")))
        if not valid:
            return replies
        editors = [editor for editor, _, _ in valid]
        before = [(len(e.stats.chunks), e.stats.shared_chunks) for e in editors]
        try:
            out = push_together(editors, [frames for _, frames, _ in valid])
        except Exception as err:
            return replies + [(r, ("error", f"{type(err).__name__}: {err}")) for _, _, r in valid]
        for e, (chunks, shared) in zip(editors, before, strict=True):
            self.chunks += len(e.stats.chunks) - chunks
            self.shared_chunks += e.stats.shared_chunks - shared
        return replies + [(r, ("ok", _stacked(frames))) for (_, _, r), frames in zip(valid, out, strict=True)]

    def _one(self, verb: str, stream, args) -> tuple[str, object]:
        from sana_streaming.engine.editor import StreamingEditor

        try:
            if verb == "open":
                prompt, changes = args
                config = dataclasses.replace(self.base.config, **changes)
                base = self.base
                editor = StreamingEditor(base.model, base.vae, base.text_encoder, config)  # shares the weights
                editor.set_prompt(prompt)
                self.editors[stream] = editor
                return "ok", None
            if verb == "flush":
                frames = self.editors[stream].flush()
                self.chunks += 1 if frames else 0
                return "ok", _stacked(frames)
            if verb == "prompt":
                self.editors[stream].set_prompt(args[0])
                return "ok", None
            if verb == "close":
                self.editors.pop(stream, None)
                return "ok", None
            if verb == "stats":
                return "ok", {"chunks": self.chunks, "shared_chunks": self.shared_chunks}
            raise ValueError(f"unknown request {verb!r}")
        except Exception as err:
            return "error", f"{type(err).__name__}: {err}"
