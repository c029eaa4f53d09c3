"""What a stream cost: per-chunk stage timings (CUDA events on the GPU, no sync until read) and totals."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class ChunkTiming:
    index: int
    frames: int
    encode_ms: float
    denoise_ms: float
    decode_ms: float
    total_ms: float


@dataclass
class EditorStats:
    """What a stream cost: per-chunk timings, time to first frame, drops."""

    chunks: list[ChunkTiming] = field(default_factory=list)
    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    time_to_first_frame: float | None = None
    started: float | None = None
    shared_chunks: int = 0  # chunks denoised in one model call with other streams' (push_together)

    def summary(self) -> dict:
        totals = [c.total_ms for c in self.chunks]
        elapsed = sum(totals) / 1000
        return {
            "chunks": len(self.chunks),
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "dropped": self.dropped,
            "time_to_first_frame_s": self.time_to_first_frame,
            "chunk_ms_median": float(np.median(totals)) if totals else None,
            "chunk_ms_max": max(totals) if totals else None,
            "processing_fps": self.frames_out / elapsed if elapsed else None,
        }


class StageTimer:
    """Stage timings of one chunk: CUDA events on the GPU (no sync until read), a wall clock on the CPU."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.marks: list[tuple[str, object]] = [("start", self._now())]

    def _now(self):
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def mark(self, name: str) -> None:
        self.marks.append((name, self._now()))

    def elapsed_ms(self) -> dict[str, float]:
        out = {}
        for (_, a), (name, b) in zip(self.marks[:-1], self.marks[1:], strict=True):
            out[name] = a.elapsed_time(b) if self.cuda else (b - a) * 1000
        return out
