"""The post-processing of the edit at several settings: the temporal filter (`EditorConfig.stabilize`,
`--stabilize`) at several strengths and tolerances, after the source-guided refinement (`EditorConfig.guide`,
`--guide`) at several radii: `eval-model`'s family benchmark on the same edits, each post-processed as the editor
does it.

    python benchmarks/stabilizer.py --strengths 0 0.5 0.8 0.9 --tolerances 20 --guides 0 0.0625 \
        --out benchmarks/results/stabilizer_cpu.json

The model edits each family once, unprocessed; every variant then runs `GuidedRefiner` (radius > 0) and
`TemporalStabilizer` over those frames with the source frames as the editor does (the editor's own output equals
this up to a level of rounding: tests/engine/test_editor.py). Strength 0 and radius 0 are the model's frames as
they are.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from family_runs import add_editor_arguments, edit_clip, held_out_clip, save_rows, scored_row

from sana_streaming.engine.editor import StreamingEditor
from sana_streaming.engine.guide import GuidedRefiner
from sana_streaming.engine.stabilize import FLOW_PRESETS, TemporalStabilizer


def refined(
    sources: np.ndarray,
    edited: np.ndarray,
    radius: float,
    eps: float,
    steady: float = 0.0,
    tolerance: float = 20.0,
    flow_preset: str = "ultrafast",
) -> np.ndarray:
    """(T, H, W, 3) uint8 edits of one stream through the refinement as the editor runs it: float32, in [0, 255],
    rounded."""
    if not radius:
        return edited
    to_torch = [torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2) for x in (sources, edited)]
    refiner = GuidedRefiner(radius, eps, steady, tolerance, flow_preset=flow_preset)
    return refiner(*to_torch).clamp(0, 255).round().permute(0, 2, 3, 1).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strengths", nargs="+", type=float, default=[0.0, 0.5, 0.8, 0.9])
    parser.add_argument("--tolerances", nargs="+", type=float, default=[20.0])
    parser.add_argument("--guides", nargs="+", type=float, default=[0.0], help="refinement radii (0: off)")
    parser.add_argument("--guide-eps", type=float, default=25.0)
    parser.add_argument(
        "--guide-steadies", nargs="+", type=float, default=[0.0], help="the refinement's maps filtered in time (0: off)"
    )
    parser.add_argument(
        "--flow-presets", nargs="+", choices=FLOW_PRESETS, default=["ultrafast"], help="the source flow's DIS presets"
    )
    parser.add_argument(
        "--cross-flow",
        choices=["farneback"],
        help="also measure each variant's warp ratios along this flow (an estimator the filter does not use)",
    )
    add_editor_arguments(parser)
    args = parser.parse_args()
    del args.stabilize  # the variants set it
    editor = StreamingEditor.from_pretrained(args.model, vae=args.vae, device="cpu", seed=0, stabilize=0.0, guide=0.0)
    clip = held_out_clip(args.clip, editor, args.frames, args.speed)
    raw: dict[str, np.ndarray] = {}

    def unfiltered(frames: np.ndarray, prompt: str) -> np.ndarray:
        if prompt not in raw:
            raw[prompt] = edit_clip(editor, frames, prompt)
        return raw[prompt]

    rows = []
    settings = [
        (guide, steady, strength, tolerance, preset)
        for preset in args.flow_presets
        for guide in args.guides
        for steady in (args.guide_steadies if guide else [0.0])
        for strength in args.strengths
        for tolerance in (args.tolerances if strength > 0 or steady > 0 else args.tolerances[:1])
    ]
    for guide, steady, strength, tolerance, preset in settings:

        def edit(frames, prompt, strength=strength, tolerance=tolerance, guide=guide, steady=steady, preset=preset):
            edited = refined(frames, unfiltered(frames, prompt), guide, args.guide_eps, steady, tolerance, preset)
            if strength == 0:
                return edited
            stabilizer = TemporalStabilizer(strength, tolerance, flow_preset=preset)
            return np.stack([stabilizer(s, e) for s, e in zip(frames, edited, strict=True)])

        began = time.perf_counter()
        label = f"guide {guide:g}, steady {steady:g}, strength {strength:g}, tolerance {tolerance:g}, flow {preset}"
        variant = {"guide": guide, "guide_steady": steady, "strength": strength, "tolerance": tolerance}
        row = scored_row(edit, clip, label, args.cross_flow, **variant, flow_preset=preset)
        edited = next(iter(raw.values()))
        if guide:  # the post-processing's own cost a frame on this machine (the sources' flow included)
            tick = time.perf_counter()
            refined(clip, edited, guide, args.guide_eps, steady, tolerance, preset)
            row["guide_ms_per_frame"] = 1000 * (time.perf_counter() - tick) / len(clip)
        if strength > 0:
            stabilizer = TemporalStabilizer(strength, tolerance, flow_preset=preset)
            tick = time.perf_counter()
            for s, e in zip(clip, edited, strict=True):
                stabilizer(s, e)
            row["filter_ms_per_frame"] = 1000 * (time.perf_counter() - tick) / len(clip)
        row["seconds"] = time.perf_counter() - began
        rows.append(row)
    save_rows("stabilizer.py", args.out, args, clip, rows)


if __name__ == "__main__":
    main()
