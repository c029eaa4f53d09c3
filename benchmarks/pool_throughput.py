"""Aggregate frames/s of many concurrent edit streams over several GPUs (``StreamPool``), frames in to frames out.

Every stream is driven by its own thread, pushing chunks of random frames at the model's resolution; the
figure is all streams' output frames over the wall time once every stream has passed its first chunk. The
2B preset runs with random weights, the LTX-2 VAE preset with random weights and random text features (no
weights needed): speed does not depend on the values.

    python benchmarks/pool_throughput.py --devices cuda:0 cuda:1 --streams-per-device 1 2 4 \\
        --out benchmarks/results/pool_throughput_h200x2.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from sana_streaming.engine.bench import bench_record, save_record
from sana_streaming.engine.pool import StreamPool
from sana_streaming.models.config import get_config
from sana_streaming.text.base import TextEncoder
from sana_streaming.text.precomputed import save_text_features

WARMUP_CHUNKS = 4  # chunks each worker edits before timing (the sink and previous-chunk caches fill up)
PROMPTS = ["make it a watercolor painting", "turn it into night", "make it a pencil sketch"]


class _RandomText(TextEncoder):
    def __init__(self, width: int, tokens: int) -> None:
        self.feature_dim, self.max_tokens, self.name = width, tokens, "random"

    def encode(self, prompts):
        gen = torch.Generator().manual_seed(0)
        features = torch.randn(len(prompts), self.max_tokens, self.feature_dim, generator=gen)
        return features, torch.ones(len(prompts), self.max_tokens, dtype=torch.int64)


def run(devices: list[str], per_device: int, chunks: int, spec: dict, batch: bool = False) -> dict:
    width, height = spec["resolution"]
    video = np.random.default_rng(0).integers(0, 256, (33 + 24 * chunks, height, width, 3), dtype=np.uint8)
    with StreamPool(devices, batch=batch, **spec) as pool:
        streams = [pool.open(PROMPTS[i % len(PROMPTS)]) for i in range(per_device * len(devices))]
        for i, worker_first in enumerate(streams[: len(devices)]):  # compile / allocate on every worker: the
            pool.push(worker_first, video[: 33 + 24 * WARMUP_CHUNKS])  # caches grow over the first chunks
            pool.flush(worker_first)
            pool.close(worker_first)
            streams[i] = pool.open(PROMPTS[i % len(PROMPTS)])
        counts, starts = [0] * len(streams), [0.0] * len(streams)

        def drive(i: int) -> None:
            pool.push(streams[i], video[:33])
            starts[i] = time.perf_counter()  # after the first chunk: steady state
            for c in range(chunks):
                counts[i] += len(pool.push(streams[i], video[33 + 24 * c : 57 + 24 * c]))

        threads = [threading.Thread(target=drive, args=(i,)) for i in range(len(streams))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - min(starts)
        shared = sum(w["shared_chunks"] for w in pool.worker_stats())
    return {
        "devices": devices,
        "streams": len(streams),
        "batch": batch,
        "shared_chunks": shared,
        "frames": sum(counts),
        "seconds": elapsed,
        "aggregate_fps": sum(counts) / elapsed,
        "per_stream_fps": sum(counts) / elapsed / len(streams),
    }


def run_direct(device: str, chunks: int, spec: dict) -> dict:
    """The same stream on one editor in this process: what the pool's worker costs on top (frames through queues)."""
    from sana_streaming.engine.editor import StreamingEditor

    width, height = spec["resolution"]
    video = np.random.default_rng(0).integers(0, 256, (33 + 24 * chunks, height, width, 3), dtype=np.uint8)
    editor = StreamingEditor.from_pretrained(device=device, **spec)
    editor.set_prompt(PROMPTS[0])
    editor.push(video[: 33 + 24 * WARMUP_CHUNKS])
    editor.flush()
    editor.reset()
    editor.push(video[:33])
    began, frames = time.perf_counter(), 0
    for c in range(chunks):
        frames += len(editor.push(video[33 + 24 * c : 57 + 24 * c]))
    elapsed = time.perf_counter() - began
    return {
        "devices": [device],
        "streams": 1,
        "in_process": True,
        "frames": frames,
        "seconds": elapsed,
        "aggregate_fps": frames / elapsed,
        "per_stream_fps": frames / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", nargs="+", default=["cuda:0"])
    parser.add_argument("--streams-per-device", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunks", type=int, default=8, help="timed chunks of 24 frames per stream")
    parser.add_argument("--preset", default="sana-streaming-2b-720p")
    parser.add_argument("--precision", default="fp8")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--direct", action="store_true", help="first, one stream on an editor in this process")
    parser.add_argument(
        "--batch", action="store_true", help="beside each row, the same with batching workers (StreamPool(batch=True))"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    cfg = get_config(args.preset)
    features = Path(tempfile.mkdtemp()) / "text.safetensors"
    save_text_features(_RandomText(cfg.caption_channels, cfg.caption_length), PROMPTS, features)
    spec = {
        "model": args.preset,
        "vae": "ltx2" if cfg.in_channels == 128 else "tiny",
        "text_encoder": f"features:{features}",
        "resolution": (1280, 704) if cfg.in_channels == 128 else (384, 224),
        "precision": args.precision,
        "compile": args.compile,
    }
    rows = []
    plan = [("direct", False)] if args.direct else []
    for per_device in args.streams_per_device:
        plan += [(per_device, False)] + ([(per_device, True)] if args.batch and per_device > 1 else [])
    for per_device, batch in plan:
        if per_device == "direct":
            rows.append(run_direct(args.devices[0], args.chunks, spec))
        else:
            rows.append(run(args.devices, per_device, args.chunks, spec, batch))
        row = rows[-1]
        print(
            ("in process: " if row.get("in_process") else "")
            + f"{row['streams']} streams on {len(row['devices'])} device(s)"
            + (f", batched ({row['shared_chunks']} chunks shared a call)" if batch else "")
            + f": {row['aggregate_fps']:.1f} frames/s ({row['per_stream_fps']:.1f} per stream)",
            flush=True,
        )
        if args.out:  # after every row, so a run cut short keeps what it measured
            body = {"spec": {**spec, "text_encoder": "random"}, "rows": rows}
            record = bench_record("python " + " ".join(sys.argv), body, benchmark="benchmarks/pool_throughput.py")
            save_record(record, args.out)


if __name__ == "__main__":
    main()
