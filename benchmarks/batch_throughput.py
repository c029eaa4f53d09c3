"""Frames/s of several edit streams on one GPU, their due chunks denoised in one model call (``push_together``),
beside the same streams edited one after the other (``push``), in one run.

The streams share one model and VAE (editors built on one ``from_pretrained``'s parts). Every stream first edits
its first chunk alone; then each round pushes 24 frames to every stream, and the figure is all streams' output
frames over the rounds' wall time, with the encode / denoise / decode milliseconds a chunk (a batched call's
denoise counted once per stream that shared it). The 2B preset, the LTX-2 VAE preset and text features are
random: speed does not depend on the values.

    python benchmarks/batch_throughput.py --device cuda:0 --streams 1 2 4 --compile \\
        --out benchmarks/results/batch_throughput_h200.json
    python benchmarks/batch_throughput.py --device cpu --preset tiny --streams 1 2 --chunks 2   # a quick try
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sana_streaming.engine.bench import bench_record, save_record
from sana_streaming.engine.editor import StreamingEditor, push_together
from sana_streaming.models.config import get_config
from sana_streaming.text.precomputed import save_text_features

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pool_throughput import PROMPTS, _RandomText

WARMUP_ROUNDS = 3  # rounds before timing: the caches fill, the compiler meets the batch size


def run(base: StreamingEditor, streams: int, rounds: int, together: bool) -> dict:
    width, height = base.config.resolution
    first = base.frames_per_chunk
    video = np.random.default_rng(0).integers(0, 256, (first + 24 * (WARMUP_ROUNDS + rounds), height, width, 3))
    video = video.astype(np.uint8)
    editors = [StreamingEditor(base.model, base.vae, base.text_encoder, base.config) for _ in range(streams)]
    for i, ed in enumerate(editors):
        ed.set_prompt(PROMPTS[i % len(PROMPTS)])
        ed.push(video[:first])

    def one_round(r: int) -> int:
        part = video[first + 24 * r : first + 24 * (r + 1)]
        if together:
            return sum(map(len, push_together(editors, [part] * streams)))
        return sum(len(ed.push(part)) for ed in editors)

    for r in range(WARMUP_ROUNDS):
        one_round(r)
    if base.device.type == "cuda":
        torch.cuda.synchronize(base.device)
    timed_from = [len(ed.stats.chunks) for ed in editors]
    began, frames = time.perf_counter(), 0
    for r in range(WARMUP_ROUNDS, WARMUP_ROUNDS + rounds):
        frames += one_round(r)
    if base.device.type == "cuda":
        torch.cuda.synchronize(base.device)
    elapsed = time.perf_counter() - began
    chunks = [c for ed, n in zip(editors, timed_from, strict=True) for c in ed.stats.chunks[n:]]
    return {
        "streams": streams,
        "together": together,
        "frames": frames,
        "seconds": elapsed,
        "aggregate_fps": frames / elapsed,
        "per_stream_fps": frames / elapsed / streams,
        "ms_per_chunk": {
            stage: float(np.mean([getattr(c, f"{stage}_ms") for c in chunks]))
            for stage in ("encode", "denoise", "decode")
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--chunks", type=int, default=6, help="timed rounds of 24 frames per stream")
    parser.add_argument("--preset", default="sana-streaming-2b-720p")
    parser.add_argument("--precision", default="fp8")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    cfg = get_config(args.preset)
    features = Path(tempfile.mkdtemp()) / "text.safetensors"
    save_text_features(_RandomText(cfg.caption_channels, cfg.caption_length), PROMPTS, features)
    big = cfg.in_channels == 128
    spec = {
        "model": args.preset,
        "vae": "ltx2" if big else "tiny",
        "text_encoder": f"features:{features}",
        "resolution": (1280, 704) if big else (384, 224),
        "precision": args.precision,
        "compile": args.compile,
    }
    base = StreamingEditor.from_pretrained(device=args.device, **spec)
    rows = []
    for streams in args.streams:
        for together in [False, True] if streams > 1 else [False]:
            rows.append(run(base, streams, args.chunks, together))
            row = rows[-1]
            ms = row["ms_per_chunk"]
            print(
                f"{streams} streams {'together' if together else 'one by one'}: {row['aggregate_fps']:.1f} frames/s "
                f"({row['per_stream_fps']:.1f} a stream); a chunk: encode {ms['encode']:.0f} ms, denoise "
                f"{ms['denoise']:.0f}, decode {ms['decode']:.0f}",
                flush=True,
            )
            if args.out:  # after every row, so a run cut short keeps what it measured
                body = {"spec": {**spec, "text_encoder": "random", "device": args.device}, "rows": rows}
                record = bench_record("python " + " ".join(sys.argv), body, benchmark="benchmarks/batch_throughput.py")
                save_record(record, args.out)


if __name__ == "__main__":
    main()
