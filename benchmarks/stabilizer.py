"""The temporal filter on the edit (`EditorConfig.stabilize`, `--stabilize`) at several strengths and
tolerances: `eval-model`'s family benchmark on the same edits, each filtered as the editor filters its frames.

    python benchmarks/stabilizer.py --strengths 0 0.5 0.8 0.9 --tolerances 20 \
        --out benchmarks/results/stabilizer_cpu.json

The model edits each family once, unfiltered; every variant then runs `TemporalStabilizer` over those frames
with the source frames as the editor does (the editor's own filtered output equals this up to a level of
rounding: tests/engine/test_editor.py). Strength 0 is the model's frames as they are.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from family_runs import add_editor_arguments, edit_clip, held_out_clip, save_rows, scored_row

from sana_streaming.engine.editor import StreamingEditor
from sana_streaming.engine.stabilize import TemporalStabilizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strengths", nargs="+", type=float, default=[0.0, 0.5, 0.8, 0.9])
    parser.add_argument("--tolerances", nargs="+", type=float, default=[20.0])
    add_editor_arguments(parser)
    args = parser.parse_args()
    del args.stabilize  # the variants set it
    editor = StreamingEditor.from_pretrained(args.model, vae=args.vae, device="cpu", seed=0, stabilize=0.0)
    clip = held_out_clip(args.clip, editor, args.frames)
    raw: dict[str, np.ndarray] = {}

    def unfiltered(frames: np.ndarray, prompt: str) -> np.ndarray:
        if prompt not in raw:
            raw[prompt] = edit_clip(editor, frames, prompt)
        return raw[prompt]

    rows = []
    for strength in args.strengths:
        for tolerance in args.tolerances if strength > 0 else args.tolerances[:1]:

            def edit(frames: np.ndarray, prompt: str, strength=strength, tolerance=tolerance) -> np.ndarray:
                edited = unfiltered(frames, prompt)
                if strength == 0:
                    return edited
                stabilizer = TemporalStabilizer(strength, tolerance)
                return np.stack([stabilizer(s, e) for s, e in zip(frames, edited, strict=True)])

            began = time.perf_counter()
            row = scored_row(
                edit, clip, f"strength {strength:g}, tolerance {tolerance:g}", strength=strength, tolerance=tolerance
            )
            if strength > 0:  # the filter's own cost a frame on this machine (the sources' flow included)
                stabilizer = TemporalStabilizer(strength, tolerance)
                edited = next(iter(raw.values()))
                tick = time.perf_counter()
                for s, e in zip(clip, edited, strict=True):
                    stabilizer(s, e)
                row["filter_ms_per_frame"] = 1000 * (time.perf_counter() - tick) / len(clip)
            row["seconds"] = time.perf_counter() - began
            rows.append(row)
    save_rows("stabilizer.py", args.out, args, clip, rows)


if __name__ == "__main__":
    main()
