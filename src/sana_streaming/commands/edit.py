"""``edit``: a video stream in, the edited stream out."""

from __future__ import annotations

import argparse
import sys

from sana_streaming.commands.common import (
    add_model_arguments,
    add_post_processing_arguments,
    parse_resolution,
    post_settings,
    quiet_libraries,
)


def _build_editor(args: argparse.Namespace):
    from sana_streaming.diffusion.flow import timesteps_for_steps
    from sana_streaming.engine import loading
    from sana_streaming.engine.editor import EditorConfig, StreamingEditor
    from sana_streaming.engine.sampler import SamplerConfig
    from sana_streaming.engine.schedule import PromptSchedule
    from sana_streaming.models.state import CacheWindow

    device = loading.resolve_device(args.device)
    dtype = loading.resolve_dtype(args.dtype, device)
    model = loading.load_model(args.model, preset=args.model_preset, device=device, dtype=dtype, seed=args.seed)
    vae = loading.load_vae(loading.vae_spec_for(args.model, args.vae), model.part, device=device, dtype=dtype)
    text = loading.load_text_encoder(args.text_encoder, model.part, device=device)
    window = CacheWindow(None if args.window == 0 else args.window, sink=not args.no_sink)
    sampler = SamplerConfig(timesteps_for_steps(args.steps), window=window, efficient_cache=args.efficient_cache)
    options = dict(
        resolution=args.resolution or loading.default_resolution(vae.part),
        fps=args.fps,
        sampler=sampler,
        fit=args.fit,
        seed=args.seed,
        transition_chunks=args.transition_chunks,
        side_by_side=args.side_by_side,
    )  # over the model folder's editor.json; --stabilize and --guide over both where given
    config = EditorConfig(**loading.editor_defaults(args.model) | options | post_settings(args))
    editor = StreamingEditor(model.part, vae.part, text.part, config)
    fast = args.fast
    if fast and device.type != "cuda":
        raise ValueError("--fast needs a CUDA GPU (FP8 units, CUDA graphs); use --precision/--compile separately")
    notes = editor.accelerate(
        "fp8" if fast and args.precision == "bf16" else args.precision,
        compile=args.compile or fast,
        cuda_graphs=args.cuda_graphs or fast,
        gdn=args.gdn,
    )
    if args.prompt_schedule:
        editor.schedule = PromptSchedule.load(args.prompt_schedule)
    if args.prompt is not None:
        editor.set_prompt(args.prompt)
    elif not args.prompt_schedule:
        raise ValueError("give a prompt with -p/--prompt or a --prompt-schedule file")
    for note in model.notes + vae.notes + text.notes + notes:
        print(f"note: {note}", file=sys.stderr)
    if args.compile or args.cuda_graphs or fast:
        print("note: warming up (compiling, capturing CUDA graphs) before the stream starts", file=sys.stderr)
        print(f"note: warm-up took {editor.warmup():.1f} s", file=sys.stderr)
    return editor


def _edit(args: argparse.Namespace) -> int:
    from sana_streaming.engine.run import default_output, run_edit
    from sana_streaming.io.sources import open_source

    quiet_libraries()
    source = open_source(args.input, fps=args.fps)  # a bad input fails before any model is loaded
    try:
        editor = _build_editor(args)
    except BaseException:
        source.close()
        raise
    output = args.output or default_output(args.input)
    width, height = editor.config.resolution
    print(f"editing {args.input} -> {output} at {width}x{height}, {editor.config.fps:g} fps", file=sys.stderr)
    report = run_edit(editor, source, output, max_frames=args.max_frames, progress=not args.quiet)
    stats = report.stats
    ttff = stats["time_to_first_frame_s"]
    summary = (
        f"wrote {report.frames_written} frames to {output}; {stats['chunks']} chunks, "
        f"{stats['processing_fps'] or 0:.1f} fps, first frame after {ttff or 0:.2f} s, "
        f"{stats['dropped']} dropped"
    )
    if report.interrupted:
        print(f"interrupted: {summary}", file=sys.stderr)
    elif report.input_error:
        print(f"warning: the input ended early ({report.input_error}); {summary}", file=sys.stderr)
    else:
        print(summary)
    return report.exit_code


def add_parsers(commands) -> None:
    edit = commands.add_parser(
        "edit",
        help="edit a video (file, image folder, webcam, network stream) with a text prompt",
        description="Edit a video stream with a text prompt, chunk after chunk (24 frames at 16 fps), writing "
        "frames as they are ready. The output is finalised even after Ctrl-C or a broken input.",
    )
    edit.add_argument("input", help="video file, image folder, webcam[:N], /dev/videoN, or rtsp/rtmp/srt/http URL")
    edit.add_argument("-p", "--prompt", help="the edit, e.g. 'make it a watercolor painting'")
    edit.add_argument(
        "-o", "--output", help="MP4/MKV/MOV file, image folder, or rtmp:// / srt:// URL (default: INPUT_edited.mp4)"
    )
    edit.add_argument(
        "--prompt-schedule",
        metavar="FILE",
        help="prompt changes over time: lines 'TIME PROMPT' "
        "(TIME in s, m:ss or h:mm:ss) or JSON [{'time': 0, 'prompt': '...'}]",
    )
    add_model_arguments(edit)
    edit.add_argument(
        "--resolution",
        type=parse_resolution,
        help="WIDTHxHEIGHT the model sees (default 384x224 for tiny, 1280x704 for the 2B model)",
    )
    edit.add_argument("--fit", choices=("crop", "letterbox"), default="crop", help="how frames are fitted")
    edit.add_argument("--fps", type=float, default=16.0, help="frame rate of the edit and the output (default 16)")
    edit.add_argument("--steps", type=int, default=4, help="denoising steps per chunk (default 4, as trained)")
    edit.add_argument("--efficient-cache", action="store_true", help="write caches in the last step, no refresh")
    edit.add_argument(
        "--window",
        type=int,
        default=2,
        help="chunks kept for softmax attention, sink included; 0 = full history (default 2)",
    )
    edit.add_argument("--no-sink", action="store_true", help="do not keep the first chunk as attention sink")
    edit.add_argument("--transition-chunks", type=int, default=0, help="blend a new prompt in over N chunks")
    edit.add_argument("--side-by-side", action="store_true", help="write source | edit side by side")
    add_post_processing_arguments(edit)
    edit.add_argument("--max-frames", type=int, help="edit at most this many frames (at the edit's frame rate)")
    edit.add_argument("--seed", type=int, default=0)
    edit.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default auto)")
    edit.add_argument("--dtype", default="auto", help="auto (bfloat16 on GPU, float32 on CPU), float32, bfloat16")
    edit.add_argument(
        "--precision",
        default="bf16",
        help="DiT precision policy: bf16, fp8, paper, or a policy file from mpq-search (default bf16)",
    )
    edit.add_argument("--compile", action="store_true", help="torch.compile the DiT blocks (slower first chunks)")
    edit.add_argument("--cuda-graphs", action="store_true", help="replay the steady-state DiT calls as CUDA graphs")
    edit.add_argument(
        "--gdn",
        choices=("chunkwise", "triton"),
        help="GDN implementation: chunkwise (PyTorch, default) or triton (CUDA)",
    )
    edit.add_argument(
        "--fast", action="store_true", help="the fastest GPU path: --precision fp8 --compile --cuda-graphs"
    )
    edit.add_argument("--quiet", action="store_true", help="no progress bar")
    edit.set_defaults(run=_edit)
