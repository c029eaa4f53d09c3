"""Training throughput (samples/s) of each stage with its `tiny` recipe, side by side in one process.

    python benchmarks/train_throughput.py --out benchmarks/results/train_throughput_h200.json

Runs ``recipes/tiny_{vae,bidirectional,streaming}.toml`` as written (model sizes, clip sizes, batch sizes, the
critic's 4 updates per generator step, Cycle-Reverse on) except for what a bare machine cannot have: the
trained VAE and teacher folders become random weights of the same presets, the clips are synthetic tensors of
the recipe's shape (decoding video is not what is timed), and the text features are random per prompt with
the MiniLM encoder's shape (64 tokens x 384; features are cached per prompt in training anyway). Each stage
is warmed up, then timed over ``--steps`` optimizer steps with the device synchronised; samples/s counts the
global batch. The bidirectional stage also runs with activation checkpointing, to show its cost.

`--overrides` changes the recipes as `train` does, e.g. the default model's last stage, by regression and the
pixel term on pairs from its own weights (clips of the rollout's length, their edit the colour inversion):

    python benchmarks/train_throughput.py --stages streaming --no-checkpointing --profile --overrides \
        dmd.weight=0 dmd.regression=1 dmd.pixels=3 dmd.reverse_weight=0 data.batch_size=8 \
        model.init=src/sana_streaming/weights/default/model vae.path=src/sana_streaming/weights/default/vae
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch

from sana_streaming.engine.bench import git_commit
from sana_streaming.text.base import TextEncoder
from sana_streaming.train.distributed import World, init_world, local_device, set_cpu_threads
from sana_streaming.train.recipe import load_recipe
from sana_streaming.train.trainer import make_stage

ROOT = Path(__file__).resolve().parent.parent
PROMPTS = [("make it a watercolor painting", "make it a photograph"), ("turn it to night", "turn it to day")]


class RandomFeatures(TextEncoder):
    """Fixed random features per prompt, shaped like the MiniLM encoder's output."""

    def __init__(self, feature_dim: int = 384, max_tokens: int = 64) -> None:
        self.feature_dim, self.max_tokens, self.name = feature_dim, max_tokens, "random"

    def encode(self, prompts):
        feats = torch.zeros(len(prompts), self.max_tokens, self.feature_dim)
        mask = torch.zeros(len(prompts), self.max_tokens, dtype=torch.int64)
        for b, prompt in enumerate(prompts):
            n = min(len(prompt.split()) + 2, self.max_tokens)
            gen = torch.Generator().manual_seed(sum(map(ord, prompt)))
            feats[b, :n], mask[b, :n] = torch.randn(n, self.feature_dim, generator=gen), 1
        return feats, mask


def synthetic_clips(count: int, frames: int, size: tuple[int, int], paired: bool) -> list[dict]:
    """Smooth random clips in [-1, 1] (upsampled noise); the edit of a pair is the colour inversion."""
    width, height = size
    gen = torch.Generator().manual_seed(0)
    items = []
    for i in range(count):
        low = torch.rand(1, 3, max(2, frames // 8), max(2, height // 32), max(2, width // 32), generator=gen)
        clip = torch.nn.functional.interpolate(low * 2 - 1, size=(frames, height, width), mode="trilinear")[0]
        prompt, reverse = PROMPTS[i % len(PROMPTS)]
        item = {"prompt": prompt, "reverse_prompt": reverse, "family": "synthetic"}
        items.append({**item, "source": clip, "edited": -clip} if paired else {**item, "video": clip})
    return items


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def profile_step(stage, step: int, device: torch.device) -> tuple[dict, str]:
    """One more step under torch.profiler: where its device time goes (collectives against compute) and the
    table of the costliest operators."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    began = time.perf_counter()
    with profile(activities=activities) as prof:
        stage.train_step(step)
        sync(device)
    wall = time.perf_counter() - began
    events = prof.key_averages()
    on_device = [e for e in events if getattr(e, "self_device_time_total", 0) > 0]
    device_ms = sum(e.self_device_time_total for e in on_device) / 1000
    comm_ms = sum(e.self_device_time_total for e in on_device if "nccl" in e.key.lower()) / 1000
    sort = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    summary = {"wall_ms": wall * 1000, "device_busy_ms": device_ms, "collectives_ms": comm_ms}
    return summary, events.table(sort_by=sort, row_limit=25)


def measure(
    recipe,
    device: torch.device,
    steps: int,
    warmup: int,
    world: World | None = None,
    text=None,
    profile_out: Path | None = None,
) -> dict:
    stage_name = recipe.run.stage
    if stage_name == "streaming":  # long videos, or pairs where a term scores against the edits
        frames, paired = 1 + 8 * (recipe.dmd.latent_frames - 1), recipe.dmd.paired
    else:
        frames, paired = recipe.data.num_frames, True
    size = tuple(recipe.data.buckets[0])
    big = frames * size[0] * size[1] > 10**7  # a 720p clip is 0.9 GB in float32: make only one batch of them
    dataset = synthetic_clips(recipe.data.batch_size if big else max(8, recipe.data.batch_size), frames, size, paired)
    world = world or World()
    stage = make_stage(recipe, device, world, dataset, text_encoder=text or RandomFeatures())
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for step in range(warmup):
        stage.train_step(step)
    sync(device)
    began = time.perf_counter()
    values = {}
    for step in range(warmup, warmup + steps):
        values = stage.train_step(step)
    sync(device)
    seconds = time.perf_counter() - began
    trained = {"vae": "vae", "bidirectional": "model", "streaming": "generator"}[stage_name]
    params = sum(p.numel() for p in getattr(stage, trained).parameters())
    row = {
        "stage": stage_name,
        "recipe": recipe.run.name,
        "processes": world.size,
        "grad_checkpointing": recipe.run.grad_checkpointing,
        "fsdp_param_dtype": recipe.run.fsdp_param_dtype if world.sharded else None,
        "fsdp_reshard_after_forward": recipe.run.fsdp_reshard_after_forward if world.sharded else None,
        "batch_size": recipe.data.batch_size,
        "clip": {"frames": frames, "width": size[0], "height": size[1]},
        "trained_params": params,
        "timed_steps": steps,
        "warmup_steps": warmup,
        "seconds_per_step": seconds / steps,
        "samples_per_s": steps * recipe.data.batch_size / seconds,
        "samples_per_s_per_process": steps * recipe.data.batch_size / seconds / world.size,
        "video_tokens_per_s_per_process": _video_tokens(recipe, frames, size) * steps / seconds / world.size,
        "last_losses": {k: float(v) for k, v in values.items()},
    }
    if device.type == "cuda":
        row["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    if profile_out is not None:  # after the timed steps, so that they are not slowed by it
        row["profile"], table = profile_step(stage, warmup + steps, device)
        profile_out.parent.mkdir(parents=True, exist_ok=True)
        profile_out.write_text(table + "\n")
    return row


def _video_tokens(recipe, frames: int, size: tuple[int, int]) -> int:
    """Latent tokens of one global batch (the DiT's sequence length times the batch)."""
    spatial = 32 if recipe.vae.preset == "ltx2" or recipe.vae.path else 16
    return recipe.data.batch_size * (1 + (frames - 1) // 8) * (size[0] // spatial) * (size[1] // spatial)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stages", nargs="+", default=["vae", "bidirectional", "streaming"])
    parser.add_argument("--steps", type=int, default=10, help="timed optimizer steps per stage")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, help="write the results here as JSON")
    parser.add_argument(
        "--scale",
        choices=("tiny", "2b"),
        default="tiny",
        help="2b: recipes/2b_bidirectional.toml (FSDP2, activation checkpointing, 81 frames at 1280x704) with the "
        "LTX-2 VAE preset and Gemma-shaped features, random weights; run it under torchrun for several GPUs",
    )
    parser.add_argument("--batch-per-process", type=int, default=1, help="2b: clips per process and step")
    parser.add_argument(
        "--batch-times",
        type=int,
        nargs="+",
        default=[1],
        help="tiny: also time each stage at these multiples of its recipe's batch (a tiny model leaves an H200 "
        "mostly idle: does a larger batch cost the same time per step?)",
    )
    parser.add_argument(
        "--fsdp-param-dtypes",
        nargs="+",
        default=["float32"],
        choices=["float32", "bfloat16"],
        help="2b: one run per dtype FSDP2 gathers the weights in (run.fsdp_param_dtype), side by side",
    )
    parser.add_argument(
        "--fsdp-keep-gathered",
        action="store_true",
        help="2b: beside each dtype's run, the same with run.fsdp_reshard_after_forward = false",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after each run's timed steps, profile one more (every process): device busy time, collectives' "
        "time, and the costliest operators (beside --out, one text file per run and process)",
    )
    parser.add_argument(
        "--cpu-threads",
        type=int,
        default=0,
        help="CPU threads a process (0: torchrun's processes share the cores, at most 8, as train's run.cpu_threads)",
    )
    parser.add_argument(
        "--no-checkpointing", dest="checkpointing", action="store_false", help="tiny: skip the checkpointing run"
    )
    parser.add_argument(
        "--overrides",
        nargs="+",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="applied to every recipe after this script's own (e.g. vae.path=FOLDER for trained weights)",
    )
    args = parser.parse_args()
    device = local_device(args.device)
    set_cpu_threads(args.cpu_threads)
    world = init_world(device, "fsdp") if args.scale == "2b" else World()
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True

    result = {
        "command": " ".join(["python", *sys.argv]),
        "git_commit": git_commit(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{platform.machine()} CPU, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "cpu_threads_per_process": torch.get_num_threads(),  # after set_cpu_threads (--cpu-threads)
        "overrides": args.overrides,
        "data": "synthetic clips of the recipe's shape; random text features of "
        + ("Gemma-2's shape (300 x 2304)" if args.scale == "2b" else "MiniLM's shape (64 x 384)"),
        "weights": "random (recipe vae.path and dmd.teacher replaced by the presets)"
        + (", but for what the overrides name" if args.overrides else ""),
        "stages": [],
    }
    text = RandomFeatures(2304, 300) if args.scale == "2b" else RandomFeatures()
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for name in args.stages if args.scale == "tiny" else ["bidirectional"]:
            overrides = [f"run.out_dir={tmp}/{name}", "vae.path=", "dmd.teacher="]
            if args.scale == "2b":
                overrides += ["vae.preset='ltx2'", f"data.batch_size={args.batch_per_process * world.size}"]
            overrides += args.overrides
            recipe = load_recipe(ROOT / "recipes" / f"{args.scale}_{name}.toml", overrides)
            for times in args.batch_times if args.scale == "tiny" else [1]:  # one run per batch size asked for
                data = dataclasses.replace(recipe.data, batch_size=recipe.data.batch_size * times)
                for dtype in args.fsdp_param_dtypes if args.scale == "2b" else ["float32"]:
                    for reshard in [True, False] if args.scale == "2b" and args.fsdp_keep_gathered else [True]:
                        run = dataclasses.replace(
                            recipe.run, fsdp_param_dtype=dtype, fsdp_reshard_after_forward=reshard
                        )
                        runs.append(dataclasses.replace(recipe, data=data, run=run))
            if name == "bidirectional" and args.scale == "tiny" and args.checkpointing:
                runs.append(
                    dataclasses.replace(runs[-1], run=dataclasses.replace(runs[-1].run, grad_checkpointing=True))
                )
        for recipe in runs:
            profile_out = None
            if args.profile:
                tag = f"{recipe.run.stage}_{len(result['stages'])}_rank{world.rank}"
                profile_out = (args.out.parent if args.out else Path(".")) / f"profile_{tag}.txt"
            row = measure(recipe, device, args.steps, args.warmup, world, text, profile_out)
            if "profile" in row:  # every process says it: the ranks may differ
                prof = row["profile"]
                print(
                    f"rank {world.rank}, profiled step: {prof['wall_ms']:.0f} ms, device busy "
                    f"{prof['device_busy_ms']:.0f} ms, collectives {prof['collectives_ms']:.0f} ms ({profile_out})",
                    flush=True,
                )
            result["stages"].append(row)
            tag = " (activation checkpointing)" if row["grad_checkpointing"] else ""
            tag += f" (FSDP2 gathers in {row['fsdp_param_dtype']})" if row["fsdp_param_dtype"] else ""
            tag += " (gathered weights kept for the backward)" if row["fsdp_reshard_after_forward"] is False else ""
            memory = f", peak {row['peak_memory_gib']:.2f} GiB" if "peak_memory_gib" in row else ""
            print(
                f"{row['stage']}{tag}: {row['samples_per_s']:.2f} samples/s, "
                f"{row['seconds_per_step']:.3f} s/step{memory}",
                flush=True,
            )
            if args.out and world.main:  # after every stage, so a run cut short keeps what it measured
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
