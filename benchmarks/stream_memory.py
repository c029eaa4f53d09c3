"""Stream N chunks through a model on the GPU and record per-chunk time, peak memory and cache size.

Checks that the memory of a stream is flat (the same at chunk 100 as at chunk 5) at the real size, and
gives a first per-chunk latency of the plain PyTorch path (reference GDN loop, no kernels, no graphs).

    python benchmarks/stream_memory.py --preset sana-streaming-2b-720p --chunks 40 --out result.json

Random weights (speed and memory do not depend on their values).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

import torch

from sana_streaming.engine.sampler import SamplerConfig, StreamingSampler
from sana_streaming.models.config import get_config
from sana_streaming.models.transformer import SanaStreamingTransformer


def git_commit() -> str:
    if os.environ.get("GIT_COMMIT"):
        return os.environ["GIT_COMMIT"]
    try:
        return subprocess.check_output(["git", "rev-parse", "HEAD"], text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


@torch.no_grad()
def run(args: argparse.Namespace) -> dict:
    device = torch.device("cuda")
    cfg = get_config(args.preset)
    torch.manual_seed(0)
    with torch.device(device):
        model = SanaStreamingTransformer(cfg).to(torch.bfloat16).eval()
    for p in model.parameters():  # non-zero everywhere (init_weights zeroes some outputs)
        p.normal_(0, 0.02)
    sampler = StreamingSampler(model, SamplerConfig())
    height, width = args.latent_size
    frames = sampler.config.chunk_frames
    text = model.encode_text(torch.randn(1, args.text_tokens, cfg.caption_channels, device=device))
    state = sampler.init_state(1, (height, width), frames)
    noise = torch.randn(1, cfg.in_channels, frames, height, width, device=device)
    source = torch.randn(1, cfg.source_channels, frames, height, width, device=device)
    rows = []
    for chunk in range(args.chunks):
        torch.cuda.reset_peak_memory_stats()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        sampler.denoise_chunk(noise, source, text, state)
        end.record()
        torch.cuda.synchronize()
        rows.append(
            dict(
                chunk=chunk,
                ms=start.elapsed_time(end),
                peak_bytes=torch.cuda.max_memory_allocated(),
                allocated_bytes=torch.cuda.memory_allocated(),
                state_bytes=state.nbytes(),
            )
        )
        print(
            f"chunk {chunk:3d}  {rows[-1]['ms']:8.1f} ms  peak {rows[-1]['peak_bytes'] / 2**30:6.3f} GiB  "
            f"state {rows[-1]['state_bytes'] / 2**20:7.2f} MiB",
            flush=True,
        )
    steady = [r["ms"] for r in rows[2:]]
    return dict(
        benchmark="stream_memory",
        command=" ".join(["python", "benchmarks/stream_memory.py", *args.argv]),
        git_commit=git_commit(),
        date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        machine=dict(gpu=torch.cuda.get_device_name(), torch=torch.__version__, python=platform.python_version()),
        preset=args.preset,
        dtype="bfloat16",
        latent=[frames, height, width],
        video_frames_per_chunk=frames * 8,
        text_tokens=args.text_tokens,
        sampler="4 Euler steps + t=0 refresh, window sink + 1 chunk",
        parameters=sum(p.numel() for p in model.parameters()),
        per_chunk=rows,
        summary=dict(
            median_ms=statistics.median(steady),
            p99_ms=sorted(steady)[min(len(steady) - 1, int(0.99 * len(steady)))],
            video_fps=frames * 8 / (statistics.median(steady) / 1000),
            peak_gib_chunk5=rows[min(5, len(rows) - 1)]["peak_bytes"] / 2**30,
            peak_gib_last=rows[-1]["peak_bytes"] / 2**30,
            state_mib=rows[-1]["state_bytes"] / 2**20,
            memory_flat=len({(r["peak_bytes"], r["allocated_bytes"]) for r in rows[3:]}) == 1,
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="sana-streaming-2b-720p")
    parser.add_argument("--chunks", type=int, default=40)
    parser.add_argument("--latent-size", type=int, nargs=2, default=(22, 40), metavar=("H", "W"))
    parser.add_argument("--text-tokens", type=int, default=300)
    parser.add_argument("--out", default=None)
    args, _ = parser.parse_known_args()
    args.argv = sys.argv[1:]
    result = run(args)
    print(json.dumps(result["summary"], indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
