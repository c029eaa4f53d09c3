"""The default editor with other denoising step lists: `eval-model`'s family benchmark for each list.

    python benchmarks/sampler_steps.py --timesteps 1000 1000,961 1000,961,893 1000,961,893,743 \\
        --out benchmarks/results/sampler_steps_cpu.json

The student was trained by regression on the ground truths at every step of the released four (each step's x0
against the edit's latent), so each prefix of the list is an editor it was trained as: fewer steps are
cheaper, and the earlier steps' x0 is nearer the mean over what the prompt leaves open.
"""

from __future__ import annotations

import argparse

from family_runs import add_editor_arguments, family_row, held_out_clip, save_rows

from sana_streaming.engine.editor import StreamingEditor
from sana_streaming.engine.sampler import SamplerConfig


def step_list(text: str) -> tuple[int, ...]:
    steps = tuple(int(t) for t in text.split(","))
    if not steps or any(not 0 < t <= 1000 for t in steps) or list(steps) != sorted(steps, reverse=True):
        raise argparse.ArgumentTypeError(f"{text!r}: timesteps in (0, 1000], falling, comma-separated")
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=step_list, nargs="+", default=[(1000,), (1000, 961, 893, 743)])
    add_editor_arguments(parser)
    args = parser.parse_args()
    rows, clip = [], None
    for steps in args.timesteps:
        sampler = SamplerConfig(timesteps=steps)
        editor = StreamingEditor.from_pretrained(
            args.model, vae=args.vae, device="cpu", seed=0, stabilize=args.stabilize, sampler=sampler
        )
        clip = held_out_clip(args.clip, editor, args.frames) if clip is None else clip
        rows.append(family_row(editor, clip, f"timesteps {','.join(map(str, steps))}", timesteps=list(steps)))
    save_rows("sampler_steps.py", args.out, args, clip, rows)


if __name__ == "__main__":
    main()
