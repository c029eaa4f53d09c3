"""Where an editor's error lies, family by family: at low spatial frequencies (colour and tone over regions) or
in the detail, and how much of it is a constant colour offset; beside the same for the VAE alone (each family's
ground truth through it).

    python benchmarks/error_bands.py --out benchmarks/results/error_bands.json

For each family of `eval-model` (seed 0's draw, the editor as `eval-model` runs it): the clip's mean squared error
(0-255), its part below a Gaussian low-pass of `--sigma` pixels (both the edit and the truth low-passed), and the
mean colour offset (edit minus truth, per RGB channel). An error mostly at low frequency is one a loss on the
decoded pixels sees better than the latents' MSE does (`dmd.pixels`).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from family_runs import add_editor_arguments, edit_clip, held_out_clip, save_rows

from sana_streaming.engine.editor import StreamingEditor
from sana_streaming.eval.families import ground_truths, vae_reconstruction
from sana_streaming.train.data.styles import gaussian_blur


def bands(edit: np.ndarray, truth: np.ndarray, sigma: float) -> dict:
    """Total and low-passed MSE (0-255) and the mean colour offset of ``edit`` against ``truth`` (T, H, W, 3)."""
    truth = truth[: len(edit)]
    error = edit.astype(np.float64) - truth
    low = [gaussian_blur(torch.from_numpy(a).float().permute(0, 3, 1, 2), sigma).double() for a in (edit, truth)]
    total, low_mse = float(np.square(error).mean()), float((low[0] - low[1]).square().mean())
    return {"mse": total, "low_mse": low_mse, "low_share": low_mse / total, "offset": error.mean((0, 1, 2)).tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sigma", type=float, default=8.0, help="the low-pass's Gaussian sigma in pixels")
    add_editor_arguments(parser)
    args = parser.parse_args()
    editor = StreamingEditor.from_pretrained(args.model, vae=args.vae, device="cpu", seed=0, stabilize=args.stabilize)
    clip = held_out_clip(args.clip, editor, args.frames)
    rows = []
    for name, (prompt, _, truth) in ground_truths(clip, seed=0).items():
        edit = edit_clip(editor, clip, prompt)
        with torch.no_grad():
            coded = vae_reconstruction(editor.vae, truth)
        row = {"family": name, "edit": bands(edit, truth, args.sigma), "vae": bands(coded, truth, args.sigma)}
        rows.append(row)
        e, v = row["edit"], row["vae"]
        print(
            f"{name:16s} edit MSE {e['mse']:7.1f}, {100 * e['low_share']:3.0f}% below sigma {args.sigma:g}, offset "
            f"{' '.join(f'{o:+.1f}' for o in e['offset'])}; VAE alone {v['mse']:6.1f} ({100 * v['low_share']:3.0f}%)",
            flush=True,
        )
    save_rows("error_bands.py", args.out, args, clip, rows)


if __name__ == "__main__":
    main()
