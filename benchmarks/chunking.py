"""Does streaming cost the editor fidelity? `eval-model`'s family benchmark with other chunkings: the editor was
trained on whole 33-frame windows (5 latent frames, attention over all of them) and runs as a stream of a
33-frame first chunk and 24-frame chunks (3 latent frames) that see the past through caches alone.

    python benchmarks/chunking.py --chunks 5:3 5:5 11:3 --out benchmarks/results/chunking_cpu.json

Each chunking is FIRST:NEXT latent frames (5:3 is the default; 11 takes the whole 81-frame clip as one chunk).
Chunk-boundary jump ratios are left out: the benchmark measures them at the default chunking's boundaries.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from sana_streaming.engine.bench import bench_record, save_record
from sana_streaming.engine.editor import StreamingEditor
from sana_streaming.engine.sampler import SamplerConfig
from sana_streaming.eval.families import family_benchmark
from sana_streaming.eval.report import load_clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", nargs="+", default=["5:3", "5:5", "11:3"], help="FIRST:NEXT latent frames")
    parser.add_argument("--model", default="default")
    parser.add_argument("--vae", default=None)
    parser.add_argument("--clip", default=".data/heldout/bikes.mp4")
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--out", help="write the figures here as JSON")
    args = parser.parse_args()
    rows, clip = [], None
    for spec in args.chunks:
        first, following = (int(n) for n in spec.split(":"))
        editor = StreamingEditor.from_pretrained(
            args.model,
            vae=args.vae,
            device="cpu",
            seed=0,
            first_chunk_latents=first,
            sampler=SamplerConfig(chunk_frames=following),
        )
        if clip is None:
            size = editor.config.resolution
            clip = load_clip(args.clip, fps=editor.config.fps, size=size, max_frames=args.frames).frames

        def edit(frames: np.ndarray, prompt: str, editor=editor) -> np.ndarray:
            editor.reset()
            editor.set_prompt(prompt)
            return np.stack([f.image for f in editor.push(frames) + editor.flush()])

        began = time.perf_counter()
        result = family_benchmark(edit, clip, seed=0)
        rows.append(
            {
                "first_chunk_latents": first,
                "chunk_latents": following,
                "mean_psnr_db": result["mean_psnr_db"],
                "worst_warp_ratio": result["worst_warp_ratio"],
                "families_psnr_db": {name: row["psnr_db"] for name, row in result["families"].items()},
                "seconds": time.perf_counter() - began,
            }
        )
        print(
            f"chunks {spec}: mean PSNR {result['mean_psnr_db']:.2f} dB, worst warp ratio "
            f"{result['worst_warp_ratio']:.2f}",
            flush=True,
        )
    if args.out:
        body = {"model": args.model, "vae": args.vae, "clip": args.clip, "frames": len(clip), "rows": rows}
        record = bench_record("python benchmarks/chunking.py " + " ".join(sys.argv[1:]), body, "chunking.py")
        print(f"wrote {save_record(record, args.out)}")


if __name__ == "__main__":
    main()
