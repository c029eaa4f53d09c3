"""What carrying frames between processes costs: a 24-frame 1280x704 chunk there and back, pickled through a pipe
(multiprocessing queues, as StreamPool did) against torch tensors in shared memory (as it does now).

    python benchmarks/pool_transport.py --out benchmarks/results/pool_transport_cpu.json

The worker makes a new array of the same size from what it received (as an editor's output is), so both ways
include that copy.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.multiprocessing

from sana_streaming.engine.bench import bench_record, save_record


def _pickled(requests, replies) -> None:
    while (frames := requests.get()) is not None:
        replies.put([f[:, ::-1].copy() for f in frames])


def _shared(requests, replies) -> None:
    while (frames := requests.get()) is not None:
        replies.put(torch.from_numpy(frames.numpy()[:, :, ::-1].copy()))


def round_trip_ms(context, worker, wrap, frames: np.ndarray, repeats: int) -> float:
    requests, replies = context.Queue(), context.Queue()
    process = context.Process(target=worker, args=(requests, replies))
    process.start()
    requests.put(wrap(frames))
    replies.get()
    began = time.perf_counter()
    for _ in range(repeats):
        requests.put(wrap(frames))
        replies.get()
    elapsed = (time.perf_counter() - began) / repeats * 1000
    requests.put(None)
    process.join()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=int, nargs=2, default=(1280, 704), metavar=("WIDTH", "HEIGHT"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    width, height = args.size
    frames = np.random.default_rng(0).integers(0, 256, (args.frames, height, width, 3), dtype=np.uint8)
    pickled = round_trip_ms(multiprocessing.get_context("spawn"), _pickled, list, frames, args.repeats)
    shared = round_trip_ms(torch.multiprocessing.get_context("spawn"), _shared, torch.from_numpy, frames, args.repeats)
    print(f"{args.frames} frames of {width}x{height} there and back: pickled {pickled:.0f} ms, shared {shared:.0f} ms")
    body = {"chunk": {"frames": args.frames, "size": [width, height]}, "pickled_ms": pickled, "shared_ms": shared}
    if args.out:
        record = bench_record("python " + " ".join(sys.argv), body, benchmark="benchmarks/pool_transport.py")
        save_record(record, args.out)


if __name__ == "__main__":
    main()
