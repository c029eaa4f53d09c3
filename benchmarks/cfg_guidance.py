"""Would classifier-free guidance at inference help the default editor? `eval-model`'s family benchmark with the
velocity v_null + g (v_prompt - v_null) at each Euler step, the null caption (the one training drops prompts to)
streamed through caches of its own, for each g asked for (g = 1 is the plain editor).

    python benchmarks/cfg_guidance.py --guidance 1 1.5 2.5 --out benchmarks/results/cfg_guidance_cpu.json

Guidance doubles the DiT's work a chunk; the engine does not offer it.
"""

from __future__ import annotations

import argparse

import torch
from family_runs import add_editor_arguments, family_row, held_out_clip, save_rows

from sana_streaming.engine.editor import StreamingEditor
from sana_streaming.engine.sampler import euler_step


def guided(editor: StreamingEditor, scale: float):
    """A ``denoise_chunk`` for ``editor.sampler`` that guides each step by ``scale`` against the null caption."""
    sampler, model = editor.sampler, editor.model
    null = model.y_embedder.y_embedding[None].float()
    null_text = model.encode_text(null, torch.ones(null.shape[:2], dtype=torch.bool))
    streams = {}  # the conditional state of the stream in flight (the object: Python reuses ids) -> its null state

    @torch.no_grad()
    def denoise_chunk(noise, source, text, state, *, write_cache=True):
        if streams.get("state") is not state:  # a new stream (editor.reset())
            streams.update(state=state, null=sampler.init_state(1, tuple(source.shape[-2:]), source.shape[2]))
        null_state = streams["null"]
        x, sigmas = noise.float(), sampler.sigmas
        steps = sampler.config.timesteps
        for i, t in enumerate(steps):
            write = write_cache and sampler.config.efficient_cache and i == len(steps) - 1
            timestep = torch.full((x.shape[0],), float(t))
            v_text, _ = model.forward_chunk(x, source, timestep, text, state, write_cache=write)
            v_null, _ = model.forward_chunk(x, source, timestep, null_text, null_state, write_cache=write)
            x = euler_step(x, v_null + scale * (v_text - v_null), sigmas[i], sigmas[i + 1])
        if write_cache and not sampler.config.efficient_cache:
            zero = torch.zeros(x.shape[0])
            model.forward_chunk(x, source, zero, text, state, write_cache=True)
            model.forward_chunk(x, source, zero, null_text, null_state, write_cache=True)
        return x

    return denoise_chunk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guidance", type=float, nargs="+", default=[1.0, 1.5, 2.5])
    add_editor_arguments(parser)
    args = parser.parse_args()
    editor = StreamingEditor.from_pretrained(args.model, vae=args.vae, device="cpu", seed=0, stabilize=args.stabilize)
    clip = held_out_clip(args.clip, editor, args.frames)
    plain = editor.sampler.denoise_chunk
    rows = []
    for scale in args.guidance:
        editor.sampler.denoise_chunk = plain if scale == 1 else guided(editor, scale)
        rows.append(family_row(editor, clip, f"guidance {scale:g}", guidance=scale))
    save_rows("cfg_guidance.py", args.out, args, clip, rows)


if __name__ == "__main__":
    main()
