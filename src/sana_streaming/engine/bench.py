"""``sana-streaming bench``: streaming throughput of model variants side by side, in one run.

GPU mode: the official 2B architecture at 1280x704 (random weights) over N video frames, for each variant
(all-softmax baseline; hybrid with the reference GDN loop; with the three-phase GDN; + FP8; + CUDA graphs):
DiT frames/s, per-chunk latency p50/p99, peak memory, memory at chunk 5 and 100; then the LTX-2 VAE's
encode/decode frames/s and the end-to-end figures. CPU mode: the tiny editor of ``make demo``.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import json
import os
import platform
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from sana_streaming.diffusion.flow import chunk_boundaries
from sana_streaming.engine.compile import compile_model
from sana_streaming.engine.graphs import CudaGraphRunner
from sana_streaming.engine.sampler import StreamingSampler
from sana_streaming.models.config import ModelConfig, get_config
from sana_streaming.models.transformer import SanaStreamingTransformer
from sana_streaming.nn.gdn import set_gdn_backend
from sana_streaming.ops.quant.fp8 import set_activation_quant
from sana_streaming.ops.quant.policy import quantize_
from sana_streaming.vae.autoencoder import VideoAutoencoder
from sana_streaming.vae.config import get_vae_config


@dataclass(frozen=True)
class Variant:
    name: str
    all_softmax: bool = False
    gdn: str = "chunkwise"
    policy: str = "bf16"
    graphs: bool = False
    compiled: bool = False
    fp8_quant: str = "torch"  # how FP8 layers quantize activations: "torch" (fused by the compiler) or "triton"
    unroll_depthwise: bool = False  # compiled: the depthwise conv as fused taps (else cuDNN's kernel)


VARIANTS = {
    "all-softmax": Variant("all-softmax", all_softmax=True),
    "hybrid-reference-gdn": Variant("hybrid-reference-gdn", gdn="reference"),
    "hybrid-chunkwise-gdn": Variant("hybrid-chunkwise-gdn"),
    "hybrid-triton-gdn": Variant("hybrid-triton-gdn", gdn="triton"),
    "+fp8": Variant("+fp8", policy="fp8"),
    "triton+fp8": Variant("triton+fp8", gdn="triton", policy="fp8"),
    "triton+fp8+graphs": Variant("triton+fp8+graphs", gdn="triton", policy="fp8", graphs=True),
    "+graphs": Variant("+graphs", policy="fp8", graphs=True),
    "bf16+compile+graphs": Variant("bf16+compile+graphs", compiled=True, graphs=True),
    "fp8+compile+graphs": Variant("fp8+compile+graphs", policy="fp8", compiled=True, graphs=True),
    "fp8+triton-gdn+compile+graphs": Variant(
        "fp8+triton-gdn+compile+graphs", gdn="triton", policy="fp8", compiled=True, graphs=True
    ),
    "fp8+compile+graphs+unrolled-dwconv": Variant(
        "fp8+compile+graphs+unrolled-dwconv", policy="fp8", compiled=True, graphs=True, unroll_depthwise=True
    ),
    "fp8+triton-quant+compile+graphs": Variant(
        "fp8+triton-quant+compile+graphs", policy="fp8", compiled=True, graphs=True, fp8_quant="triton"
    ),
    "fp8+triton-gdn+quant+compile+graphs": Variant(
        "fp8+triton-gdn+quant+compile+graphs",
        gdn="triton",
        policy="fp8",
        compiled=True,
        graphs=True,
        fp8_quant="triton",
    ),
}


@dataclass
class StreamRun:
    chunk_ms: list[float] = field(default_factory=list)
    frames: int = 0
    peak_bytes: int = 0
    allocated_at: dict[int, int] = field(default_factory=dict)


def _model(cfg: ModelConfig, variant: Variant, device: torch.device) -> SanaStreamingTransformer:
    if variant.all_softmax:
        cfg = cfg.replace(softmax_layers=tuple(range(cfg.depth)), name=cfg.name + "-all-softmax")
    torch.manual_seed(0)
    with torch.device(device):
        model = SanaStreamingTransformer(cfg).to(torch.bfloat16).eval()
    with torch.no_grad():
        for p in model.parameters():  # non-zero everywhere (speed does not depend on the values)
            p.normal_(0, 0.02)
    set_gdn_backend(model, variant.gdn)
    if variant.policy != "bf16":
        quantize_(model, variant.policy, nvfp4="fp8")
        set_activation_quant(model, variant.fp8_quant)
    if variant.compiled:
        compile_model(model, unroll_depthwise=variant.unroll_depthwise)
    return model


@torch.no_grad()
def stream_dit(model, latent_frames: int, latent_hw, memory_chunks: tuple[int, ...], runner=None) -> StreamRun:
    """Stream ``latent_frames`` latent frames (official chunking) through the DiT; CUDA events per chunk.

    ``runner``: a :class:`CudaGraphRunner` of ``model``; the same runner across streams of the same first-chunk
    size reuses its state buffers and graphs (a warm-up stream captures them, as a live session does at start).
    """
    device = next(model.parameters()).device
    sampler = StreamingSampler(runner or model)
    bounds = chunk_boundaries(latent_frames)
    cfg = model.cfg
    text = model.encode_text(torch.randn(1, 300, cfg.caption_channels, device=device, dtype=model.dtype))
    state = sampler.init_state(1, latent_hw, bounds[1])
    run = StreamRun()
    torch.cuda.reset_peak_memory_stats()
    for c, (a, b) in enumerate(itertools.pairwise(bounds)):
        noise = torch.randn(1, cfg.in_channels, b - a, *latent_hw, device=device)
        source = torch.randn(1, cfg.source_channels, b - a, *latent_hw, device=device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        sampler.denoise_chunk(noise, source, text, state)  # a live stream refreshes after every chunk
        end.record()
        end.synchronize()
        run.chunk_ms.append(start.elapsed_time(end))
        run.frames += 1 + 8 * (b - a - 1) if c == 0 else 8 * (b - a)
        if c in memory_chunks:
            run.allocated_at[c] = torch.cuda.memory_allocated()
    run.peak_bytes = torch.cuda.max_memory_allocated()
    return run


@torch.no_grad()
def stream_vae(resolution: tuple[int, int], chunks: int, device: torch.device) -> dict:
    """Causal streaming encode and decode of the LTX-2 VAE (random weights, bf16) at ``resolution``. A 3-chunk
    warm-up stream runs first."""
    cfg = dataclasses.replace(get_vae_config("ltx2"), decoder_causal=True)
    vae = VideoAutoencoder(cfg).to(device, torch.bfloat16).eval()
    warm_start = time.perf_counter()
    _vae_rows(vae, resolution, 3, device)
    warmup_s = time.perf_counter() - warm_start
    rows = _vae_rows(vae, resolution, chunks, device)
    steady = rows[2:] or rows
    frames = sum(r[0] for r in steady)
    return {
        "encode_fps": frames / (sum(r[1] for r in steady) / 1000),
        "decode_fps": frames / (sum(r[2] for r in steady) / 1000),
        "first_chunk_ms": rows[0][1] + rows[0][2],
        "warmup_s": warmup_s,
    }


def _vae_rows(vae: VideoAutoencoder, resolution: tuple[int, int], chunks: int, device) -> list[tuple]:
    width, height = resolution
    enc, dec = vae.encoder_stream(), vae.decoder_stream()
    rows = []
    for c in range(chunks):
        frames = 33 if c == 0 else 24
        video = torch.rand(1, 3, frames, height, width, device=device, dtype=torch.bfloat16) * 2 - 1
        events = [torch.cuda.Event(enable_timing=True) for _ in range(3)]
        events[0].record()
        latent = vae.encode_chunk(video, enc)
        events[1].record()
        vae.decode_chunk(latent, dec)
        events[2].record()
        events[2].synchronize()
        rows.append((frames, events[0].elapsed_time(events[1]), events[1].elapsed_time(events[2])))
    return rows


def summarize(run: StreamRun) -> dict:
    steady = run.chunk_ms[2:] or run.chunk_ms
    ordered = sorted(steady)
    return {
        "dit_fps": run.frames / (sum(run.chunk_ms) / 1000),
        "chunk_ms_p50": statistics.median(steady),
        "chunk_ms_p99": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))],
        "first_chunk_ms": run.chunk_ms[0],
        "peak_gib": run.peak_bytes / 2**30,
        "allocated_gib": {str(k): v / 2**30 for k, v in run.allocated_at.items()},
        "frames": run.frames,
        "chunks": len(run.chunk_ms),
    }


def git_commit() -> str:
    if os.environ.get("GIT_COMMIT"):  # a copy of the tree without .git (e.g. on a lent GPU machine)
        return os.environ["GIT_COMMIT"]
    try:
        return subprocess.check_output(["git", "rev-parse", "HEAD"], text=True, stderr=subprocess.DEVNULL).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_gpu_bench(preset: str, frames: int, variants: list[str], memory_frames: int, resolution) -> dict:
    device = torch.device("cuda")
    # The GDN recurrence runs its matmuls in float32; TF32 tensor cores keep a 10-bit mantissa with float32
    # accumulation, inside the bf16 kernel tolerance (tests/ops/test_gpu_paths.py).
    torch.backends.cuda.matmul.allow_tf32 = True
    cfg = get_config(preset)
    width, height = resolution
    latent_hw = (height // 32, width // 32)
    latent_frames = 1 + (frames - 1) // 8
    warmup_frames = chunk_boundaries(latent_frames)[1] + 3 * 6  # the same first chunk, then 6 steady chunks
    results = {}
    model = runner = None
    for name in variants:
        variant = VARIANTS[name]
        try:
            model = _model(cfg, variant, device)
            runner = CudaGraphRunner(model) if variant.graphs else None
            warm_start = time.perf_counter()
            stream_dit(model, warmup_frames, latent_hw, (), runner)  # compiles, captures, fills caches
            warmup_s = time.perf_counter() - warm_start
            captured = runner.captures if runner is not None else 0
            results[name] = summarize(stream_dit(model, latent_frames, latent_hw, (), runner))
            results[name]["warmup_s"] = warmup_s
            if runner is not None:
                results[name]["graph_captures_in_measured_stream"] = runner.captures - captured
                results[name]["graph_replays"] = runner.replays
        except Exception as err:  # one broken variant must not lose the others' numbers
            results[name] = {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"}
            print(f"{name:<22} failed: {results[name]['error']}", flush=True)
            model = runner = None
            torch.cuda.empty_cache()
            continue
        if name != variants[-1]:  # the last variant's model also makes the memory run below
            model = runner = None
            torch.cuda.empty_cache()
        row = results[name]
        print(
            f"{name:<22} {row['dit_fps']:7.1f} DiT fps   p50 {row['chunk_ms_p50']:6.1f} ms   "
            f"p99 {row['chunk_ms_p99']:6.1f} ms   peak {row['peak_gib']:5.2f} GiB",
            flush=True,
        )
    memory_latents = 1 + (memory_frames - 1) // 8  # the last variant again (compiled, graphs captured) on a long stream
    if model is None:
        last = VARIANTS[variants[-1]]
        model = _model(cfg, last, device)
        runner = CudaGraphRunner(model) if last.graphs else None
    stream_dit(model, chunk_boundaries(memory_latents)[1] + 3 * 6, latent_hw, (), runner)
    memory = summarize(stream_dit(model, memory_latents, latent_hw, (5, 100), runner))
    model = runner = None
    torch.cuda.empty_cache()
    vae = stream_vae(resolution, 6, device)
    vae_s_per_frame = 1 / vae["encode_fps"] + 1 / vae["decode_fps"]
    for row in results.values():
        if "error" not in row:
            row["end_to_end_fps"] = 1 / (1 / row["dit_fps"] + vae_s_per_frame)
            row["time_to_first_frame_ms"] = row["first_chunk_ms"] + vae["first_chunk_ms"]
    return {"variants": results, "memory_run": memory, "vae": vae, "tf32_float32_matmuls": True}


def save_record(record: dict, path: str | os.PathLike) -> Path:
    """Write a benchmark record as indented JSON (folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def bench_record(args_line: str, body: dict, benchmark: str = "sana-streaming bench") -> dict:
    """``body`` with what reproduces it: the benchmark, its command line, the commit, the date, the machine."""
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return {
        "benchmark": benchmark,
        "command": args_line,
        "git_commit": git_commit(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "gpu": gpu,
            "cpu_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        **body,
    }


def run_cpu_bench(clip: str, frames: int, model: str, vae: str | None = None, **config) -> dict:
    """``model`` (``make demo``'s: the shipped default model, else the tiny preset) on this CPU, with its own VAE
    or ``vae`` (a folder) and ``config`` over its editor settings: frames/s of the whole pipeline."""
    from sana_streaming.engine.editor import StreamingEditor
    from sana_streaming.io.sources import open_source

    editor = StreamingEditor.from_pretrained(model, vae=vae, device="cpu", **config)
    editor.set_prompt("make it a watercolor painting")
    source = open_source(clip, fps=editor.config.fps)
    start = time.perf_counter()
    count = sum(1 for _ in zip(range(frames), editor.edit(source), strict=False))
    elapsed = time.perf_counter() - start
    return {"frames": count, "seconds": elapsed, "end_to_end_fps": count / elapsed, **editor.stats.summary()}
