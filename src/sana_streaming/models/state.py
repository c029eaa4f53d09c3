"""The streaming caches of one stream: an explicit object created by the model, passed in and out.

What a chunk reads (see the fixtures README, "Cache read by chunk c"):

- Gated DeltaNet blocks: the forward-scan state (S_kv, S_z) after the previous chunk.
- Softmax blocks: after-RoPE keys and values of the cached chunks (:class:`CacheWindow`).
- Every block: the last frame of the previous chunk's Mix-FFN spatial branch (temporal-conv left context).

All buffers are allocated once; writes are in place (methods ending in ``_``), so the memory of a stream
is fixed whatever its length (except with a full-history softmax window, which grows by design).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class CacheWindow:
    """Which earlier chunks the softmax blocks attend to.

    Attributes:
        num_cached_chunks: chunks kept (official ``num_cached_blocks``), the sink included; None = full history.
        sink: keep chunk 0 (the sink) for the whole stream at its original positions.

    The temporal-conv context is always the previous chunk's last frame. (With ``num_cached_chunks=1`` and
    the sink, the official sampler hands softmax blocks chunk 0's frame instead, an artefact of how it
    gathers caches; the released settings never hit it.)
    """

    num_cached_chunks: int | None = 2
    sink: bool = True

    def __post_init__(self) -> None:
        if self.num_cached_chunks is not None and self.num_cached_chunks < 1:
            raise ValueError(f"num_cached_chunks must be >= 1 or None (full history), got {self.num_cached_chunks}")

    def cached_chunks(self, chunk: int) -> list[int]:
        """Earlier chunks whose keys/values chunk ``chunk`` attends to, in order (official semantics)."""
        n = self.num_cached_chunks
        if n is None:
            return list(range(chunk))
        if self.sink and chunk >= n:
            return [0, *range(chunk - n + 1, chunk)]
        return list(range(max(chunk - n, 0), chunk))

    @property
    def ring_slots(self) -> int | None:
        """Window chunks kept besides chunk 0's region (None = unbounded)."""
        if self.num_cached_chunks is None:
            return None
        return self.num_cached_chunks - 1 if self.sink else self.num_cached_chunks


class SoftmaxKVCache:
    """After-RoPE keys/values of the softmax blocks, one buffer per block.

    Buffer layout along tokens: [chunk 0 | ring of window chunks]. Chunk 0 has its own size (the first chunk
    absorbs the frame remainder); later chunks all have ``chunk_tokens`` tokens. The valid window is always
    one contiguous slice of the buffer, so reading a context never copies.
    """

    def __init__(
        self,
        num_layers: int,
        shape: tuple[int, int, int],
        first_tokens: int,
        chunk_tokens: int,
        window: CacheWindow,
        *,
        device: torch.device | str | None,
        dtype: torch.dtype,
    ) -> None:
        batch, heads, head_dim = shape
        self.window = window
        self.first_tokens = first_tokens
        self.chunk_tokens = chunk_tokens
        slots = window.ring_slots
        capacity = first_tokens + (slots or 0) * chunk_tokens
        self.keys = [
            torch.zeros(batch, heads, capacity, head_dim, device=device, dtype=dtype) for _ in range(num_layers)
        ]
        self.values = [torch.zeros_like(k) for k in self.keys]

    def region(self, chunk: int) -> tuple[int, int]:
        """Token range [start, end) of the buffer that holds chunk ``chunk`` (until it is evicted)."""
        if chunk == 0:
            return 0, self.first_tokens
        slots = self.window.ring_slots
        slot = chunk - 1 if slots is None else (chunk - 1) % slots
        start = self.first_tokens + slot * self.chunk_tokens
        return start, start + self.chunk_tokens

    def context(self, layer: int, chunk: int) -> tuple[Tensor, Tensor] | None:
        """Cached (keys, values) that chunk ``chunk`` attends to, each (B, H, M, D), or None for chunk 0.

        The cached window chunks fill the ring in order and evict the oldest, so they always occupy the
        first ``len(window chunks)`` slots: the context is one slice, with chunk 0's region when it is cached.
        """
        span = self.context_range(chunk)
        if span is None:
            return None
        start, end = span
        return self.keys[layer][:, :, start:end], self.values[layer][:, :, start:end]

    def context_range(self, chunk: int) -> tuple[int, int] | None:
        """Token range [start, end) of the buffers that chunk ``chunk`` attends to (None for chunk 0)."""
        cached = self.window.cached_chunks(chunk)
        if not cached:
            return None
        has_first = cached[0] == 0
        start = 0 if has_first else self.first_tokens
        return start, self.first_tokens + (len(cached) - has_first) * self.chunk_tokens

    def write_(self, layer: int, chunk: int, keys: Tensor, values: Tensor) -> None:
        """Store the after-RoPE keys/values (B, H, N, D) of chunk ``chunk`` (evicting the oldest window chunk)."""
        if chunk and self.window.ring_slots == 0:
            return  # a sink-only window never reads later chunks
        start, end = self.region(chunk)
        if keys.shape[2] != end - start:
            raise ValueError(f"chunk {chunk} has {keys.shape[2]} tokens, the cache expects {end - start}")
        if self.window.ring_slots is None and end > self.keys[layer].shape[2]:
            self.keys[layer] = torch.cat([self.keys[layer][:, :, :start], keys.to(self.keys[layer].dtype)], dim=2)
            self.values[layer] = torch.cat([self.values[layer][:, :, :start], values.to(self.values[layer].dtype)], 2)
            return
        self.keys[layer][:, :, start:end].copy_(keys)
        self.values[layer][:, :, start:end].copy_(values)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values))


@dataclass
class BlockMemory:
    """What one block reads from the stream state before a call, and what it produces for the next chunk.

    GDN blocks use ``state_kv`` (B, H, D, D) and ``state_z`` (B, H, D); softmax blocks use ``context``
    (cached keys, values) to read and ``keys``/``values`` (B, H, N, D) to write; every block uses ``tconv``
    (B, S, C), the temporal-conv left context.
    """

    state_kv: Tensor | None = None
    state_z: Tensor | None = None
    context: tuple[Tensor, Tensor] | None = None
    keys: Tensor | None = None
    values: Tensor | None = None
    tconv: Tensor | None = None


def _copied(memory: BlockMemory) -> BlockMemory:
    def copy(t):
        return None if t is None else t.clone()

    context = None if memory.context is None else (memory.context[0].clone(), memory.context[1].clone())
    return BlockMemory(copy(memory.state_kv), copy(memory.state_z), context, tconv=copy(memory.tconv))


class StreamState:
    """All caches of one stream. Create it with ``model.init_state(...)``; the model reads and writes it.

    Attributes:
        gdn_kv: GDN numerator states, float32, (num_gdn_blocks, B, H, D, D).
        gdn_z: GDN normaliser states, float32, (num_gdn_blocks, B, H, D).
        tconv: temporal-conv left context per block, (depth, B, S, C); zeros before the first chunk.
        kv: the softmax blocks' key/value window.
        frame_offset: absolute latent-frame index where the next chunk starts (its RoPE position).
        position: the same index as a 0-d int64 tensor on the state's device, advanced by the device itself
            (what the model reads, so that a captured step replays correctly for every chunk).
        num_chunks: chunks written so far.
    """

    def __init__(
        self,
        gdn_kv: Tensor,
        gdn_z: Tensor,
        tconv: Tensor,
        kv: SoftmaxKVCache,
        gdn_index: dict[int, int],
        softmax_index: dict[int, int],
    ) -> None:
        self.gdn_kv = gdn_kv
        self.gdn_z = gdn_z
        self.tconv = tconv
        self.kv = kv
        self._gdn_index = gdn_index
        self._softmax_index = softmax_index
        self.frame_offset = 0
        self.position = torch.zeros((), dtype=torch.int64, device=gdn_kv.device)
        self.num_chunks = 0
        # Training rollouts backpropagate through calls that read the caches, and later writes to the same
        # buffers would invalidate what autograd saved: reads then hand out copies.
        self.copy_reads = False

    def read(self, block: int) -> BlockMemory:
        """The memory block ``block`` reads for the next chunk (views, no copies).

        Before the first chunk the GDN states and temporal-conv context are zeros, which is exactly a scan
        from an empty state and the conv's zero padding.
        """
        if block in self._gdn_index:
            g = self._gdn_index[block]
            memory = BlockMemory(state_kv=self.gdn_kv[g], state_z=self.gdn_z[g], tconv=self.tconv[block])
        else:
            context = self.kv.context(self._softmax_index[block], self.num_chunks)
            memory = BlockMemory(context=context, tconv=self.tconv[block])
        return _copied(memory) if self.copy_reads else memory

    def check_chunk(self, tokens: int) -> None:
        """Raise before a cache-writing call whose chunk size differs from what the caches were sized for."""
        expected = self.kv.first_tokens if self.num_chunks == 0 else self.kv.chunk_tokens
        if tokens != expected:
            which = "the first chunk" if self.num_chunks == 0 else f"chunk {self.num_chunks}"
            raise ValueError(f"{which} has {tokens} tokens but the stream state was made for {expected}")

    def write_(self, block: int, memory: BlockMemory) -> None:
        """Store what block ``block`` produced for the current chunk (call :meth:`commit_` after the last block)."""
        self.tconv[block].copy_(memory.tconv)
        if block in self._gdn_index:
            g = self._gdn_index[block]
            self.gdn_kv[g].copy_(memory.state_kv)
            self.gdn_z[g].copy_(memory.state_z)
        else:
            self.kv.write_(self._softmax_index[block], self.num_chunks, memory.keys, memory.values)

    def commit_(self, frames: int) -> None:
        """Advance past a chunk of ``frames`` latent frames once all blocks are written."""
        self.position.add_(frames)
        self.count_chunk(frames)

    def count_chunk(self, frames: int) -> None:
        """The host-side half of :meth:`commit_` (a replayed CUDA graph advances ``position`` itself)."""
        self.frame_offset += frames
        self.num_chunks += 1

    def reset_(self) -> None:
        """Empty every cache in place for a new stream: the buffers (and CUDA graphs that read them) stay."""
        for t in (self.gdn_kv, self.gdn_z, self.tconv, self.position, *self.kv.keys, *self.kv.values):
            t.zero_()
        self.frame_offset = 0
        self.num_chunks = 0

    def nbytes(self) -> int:
        """Bytes held by all caches."""
        tensors = (self.gdn_kv, self.gdn_z, self.tconv)
        return sum(t.numel() * t.element_size() for t in tensors) + self.kv.nbytes()


class StreamBatch:
    """Several streams edited in one model call: ``forward_chunk`` takes it where it takes a :class:`StreamState`.

    Each stream keeps its own state (its own caches, position and chunk count); a call reads their caches
    stacked along the batch, gives every sample its own RoPE position, and writes each stream's part back
    into that stream's own ring slot. The streams may sit at different chunks of their videos, as long as
    the chunk they are at reads the same amount of cache (equal softmax context lengths and chunk sizes):
    past the window's first chunks every stream does, so streams batch from their third chunk on with the
    default window. :meth:`key` says which streams can share a call.

    Reads are copies (one per block and call: the stacked caches), so a batch costs memory traffic that a
    stream alone does not; writes go straight into each stream's buffers.
    """

    def __init__(self, states: list[StreamState]) -> None:
        if not states:
            raise ValueError("a StreamBatch needs at least one stream")
        keys = {self.key(s) for s in states}
        if len(keys) > 1:
            chunks = ", ".join(str(s.num_chunks) for s in states)
            raise ValueError(f"streams at chunks {chunks} read caches of different sizes and cannot share a call")
        self.states = states
        self.sizes = [s.gdn_kv.shape[1] for s in states]

    @staticmethod
    def key(state: StreamState) -> tuple:
        """Streams with equal keys can share a call: their next chunk's size and cached context agree."""
        kv = state.kv
        first = state.num_chunks == 0
        return (kv.first_tokens if first else kv.chunk_tokens, kv.context_range(state.num_chunks), kv.window)

    @property
    def position(self) -> Tensor:
        """(B,) the absolute latent frame each sample's chunk starts at."""
        return torch.cat([s.position.expand(n) for s, n in zip(self.states, self.sizes, strict=True)])

    def read(self, block: int) -> BlockMemory:
        parts = [s.read(block) for s in self.states]

        def cat(get):
            tensors = [get(p) for p in parts]
            return None if tensors[0] is None else torch.cat(tensors)

        context = None
        if parts[0].context is not None:
            context = (cat(lambda p: p.context[0]), cat(lambda p: p.context[1]))
        return BlockMemory(
            state_kv=cat(lambda p: p.state_kv),
            state_z=cat(lambda p: p.state_z),
            context=context,
            tconv=cat(lambda p: p.tconv),
        )

    def check_chunk(self, tokens: int) -> None:
        for s in self.states:
            s.check_chunk(tokens)

    def write_(self, block: int, memory: BlockMemory) -> None:
        fields = ("state_kv", "state_z", "keys", "values", "tconv")
        split = {f: getattr(memory, f).split(self.sizes) for f in fields if getattr(memory, f) is not None}
        for i, s in enumerate(self.states):
            s.write_(block, BlockMemory(**{f: parts[i] for f, parts in split.items()}))

    def commit_(self, frames: int) -> None:
        for s in self.states:
            s.commit_(frames)
