"""CUDA graphs for the streaming calls, applied from outside: ``StreamingSampler(CudaGraphRunner(model))``.

Once a stream's softmax window is full, every chunk makes the same calls on the same buffers: the stream
state is preallocated, the context is the same slice of it, the position advances on the device. Each call
kind (a denoising call; a cache-writing call per ring slot) is captured once and then replayed with its
inputs copied into static buffers, so a step costs a few launches instead of thousands. Earlier chunks,
full-history windows and changed shapes run eagerly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from sana_streaming.models.state import StreamState
from sana_streaming.models.transformer import SanaStreamingTransformer, TextCondition


@dataclass
class _Captured:
    graph: torch.cuda.CUDAGraph
    x: Tensor
    source: Tensor
    timestep: Tensor
    text: TextCondition
    velocity: Tensor


def _snapshot(state: StreamState) -> tuple:
    tensors = [state.gdn_kv, state.gdn_z, state.tconv, state.position, *state.kv.keys, *state.kv.values]
    return [t.clone() for t in tensors], (state.frame_offset, state.num_chunks)


def _restore(state: StreamState, snapshot: tuple) -> None:
    tensors, (offset, chunks) = snapshot
    for target, saved in zip(
        [state.gdn_kv, state.gdn_z, state.tconv, state.position, *state.kv.keys, *state.kv.values], tensors, strict=True
    ):
        target.copy_(saved)
    state.frame_offset, state.num_chunks = offset, chunks


def _clone_text(text: TextCondition) -> TextCondition:
    bias = None if text.bias is None else text.bias.clone()
    return TextCondition([(k.clone(), v.clone()) for k, v in text.context], bias)


def _copy_text_(target: TextCondition, text: TextCondition) -> bool:
    """Copy ``text`` into the static ``target``; False when shapes differ (then the call runs eagerly)."""
    if (target.bias is None) != (text.bias is None) or len(target.context) != len(text.context):
        return False
    pairs = [
        (a, b) for (ka, va), (kb, vb) in zip(target.context, text.context, strict=True) for a, b in ((ka, kb), (va, vb))
    ]
    if target.bias is not None:
        pairs.append((target.bias, text.bias))
    if any(a.shape != b.shape for a, b in pairs):
        return False
    for a, b in pairs:
        a.copy_(b)
    return True


class CudaGraphRunner:
    """Stands in for the model in :class:`StreamingSampler` and replays captured CUDA graphs when it can.

    The velocity returned by a replay is a static buffer, valid until the next call (the sampler consumes
    it at once).
    """

    def __init__(self, model: SanaStreamingTransformer, warmup: int = 2) -> None:
        self.model = model
        self.warmup = warmup
        self.pool = torch.cuda.graph_pool_handle()
        self._graphs: dict[tuple, _Captured] = {}
        self._text: TextCondition | None = None  # one static prompt for every graph of this runner
        self._last_text: TextCondition | None = None
        self._graphed_state: StreamState | None = None  # held, so a new state can never reuse its id
        self._state: StreamState | None = None
        self._state_request: tuple | None = None
        self.replays = 0
        self.captures = 0

    def init_state(self, *args, **kwargs) -> StreamState:
        """The state of a new stream. Asked again with the same arguments, the runner empties its last state in
        place and hands it back, so the graphs captured on it replay from the new stream's steady state on
        (no recapture, no new memory). One stream at a time per runner."""
        request = (args, tuple(sorted(kwargs.items())))
        if self._state is not None and request == self._state_request:
            self._state.reset_()
            return self._state
        self._state = self.model.init_state(*args, **kwargs)
        self._state_request = request
        return self._state

    def _key(self, x: Tensor, state: StreamState, write_cache: bool) -> tuple | None:
        kv = state.kv
        slots = kv.window.ring_slots
        chunk = state.num_chunks
        if not x.is_cuda or slots is None or chunk == 0 or kv.context_range(chunk) != kv.context_range(chunk + 1):
            return None  # not at the steady state yet, or a window that keeps growing
        slot = (chunk - 1) % slots if (write_cache and slots) else None
        return tuple(x.shape), write_cache, slot

    def forward_chunk(self, x, source, timestep, text, state, *, write_cache=False):
        if state is not self._graphed_state:  # a new stream: the graphs of the previous one read other buffers
            self._graphs.clear()
            self._graphed_state = state
        key = self._key(x, state, write_cache)
        if key is None:
            return self.model.forward_chunk(x, source, timestep, text, state, write_cache=write_cache)
        if self._text is None:
            self._text = _clone_text(text)
        elif text is not self._last_text and not _copy_text_(self._text, text):
            return self.model.forward_chunk(x, source, timestep, text, state, write_cache=write_cache)
        self._last_text = text
        captured = self._graphs.get(key) or self._capture(key, x, source, timestep, state, write_cache)
        captured.x.copy_(x)
        captured.source.copy_(source)
        captured.timestep.copy_(timestep)
        captured.graph.replay()
        self.replays += 1
        if write_cache:
            state.count_chunk(x.shape[2])  # the device-side position was advanced by the graph
        return captured.velocity, state

    def _capture(self, key, x, source, timestep, state, write_cache) -> _Captured:
        static = dict(x=x.clone(), source=source.clone(), timestep=timestep.clone(), text=self._text)
        snapshot = _snapshot(state)

        def call():
            return self.model.forward_chunk(
                static["x"], static["source"], static["timestep"], static["text"], state, write_cache=write_cache
            )[0]

        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(self.warmup):
                call()
                _restore(state, snapshot)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            velocity = call()
        _restore(state, snapshot)  # capturing ran the host-side bookkeeping once; the device did nothing
        captured = _Captured(graph, velocity=velocity, **static)
        self._graphs[key] = captured
        self.captures += 1
        return captured
