"""Does streaming cost the editor fidelity? `eval-model`'s family benchmark with other chunkings: the editor was
trained on whole 33-frame windows (5 latent frames, attention over all of them) and runs as a stream of a
33-frame first chunk and 24-frame chunks (3 latent frames) that see the past through caches alone.

    python benchmarks/chunking.py --chunks 5:3 5:5 11:3 --out benchmarks/results/chunking_cpu.json

Each chunking is FIRST:NEXT latent frames (5:3 is the default; 11 takes the whole 81-frame clip as one chunk).
The jump ratios are measured at the default chunking's boundaries: for other chunkings they mean little.
"""

from __future__ import annotations

import argparse

from family_runs import add_editor_arguments, family_row, held_out_clip, save_rows

from sana_streaming.engine.editor import StreamingEditor
from sana_streaming.engine.sampler import SamplerConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", nargs="+", default=["5:3", "5:5", "11:3"], help="FIRST:NEXT latent frames")
    add_editor_arguments(parser)
    args = parser.parse_args()
    rows, clip = [], None
    for spec in args.chunks:
        first, following = (int(n) for n in spec.split(":"))
        editor = StreamingEditor.from_pretrained(
            args.model,
            vae=args.vae,
            device="cpu",
            stabilize=args.stabilize,
            seed=0,
            first_chunk_latents=first,
            sampler=SamplerConfig(chunk_frames=following),
        )
        if clip is None:
            clip = held_out_clip(args.clip, editor, args.frames)
        rows.append(family_row(editor, clip, f"chunks {spec}", first_chunk_latents=first, chunk_latents=following))
    save_rows("chunking.py", args.out, args, clip, rows)


if __name__ == "__main__":
    main()
