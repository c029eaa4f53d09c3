"""GDN at the 2B model's size on one GPU: the block and the bare recurrence, per backend, side by side.

For T = 3 and 5 latent frames of 22 x 40 tokens (a 720p chunk), 20 heads of 112: the median time
(``triton.testing.do_bench``) of

- the whole GatedDeltaNetAttention block (projections, features, recurrence, gate, output projection) with
  the PyTorch three-phase backend and the fused Triton backend, eager and under ``torch.compile``;
- the bare recurrence: ``gdn_chunkwise`` on float32 features (what the model feeds it) and ``gdn_triton`` on
  bf16 features, with the Triton kernels' own times from the profiler;

and the floor set by memory traffic (the bf16 features read once, the output written once). Writes JSON.

    python benchmarks/gdn_kernels.py --out benchmarks/results/gdn_kernels_h200.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from triton.testing import do_bench

from sana_streaming.engine.bench import bench_record, save_record
from sana_streaming.nn.gdn import GatedDeltaNetAttention
from sana_streaming.nn.rope import rope_table
from sana_streaming.ops.gdn.chunkwise import gdn_chunkwise
from sana_streaming.ops.gdn.triton_kernel import gdn_triton

HIDDEN, HEAD_DIM, HEIGHT, WIDTH = 2240, 112, 22, 40
COPY_BYTES_PER_S = 4.0e12  # device-to-device copy rate of an H200 (read + write), as measured here before


def block_for(device) -> GatedDeltaNetAttention:
    torch.manual_seed(0)
    block = GatedDeltaNetAttention(HIDDEN, HEAD_DIM).to(device)
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(torch.randn_like(p) * (p[0].numel() ** -0.5 if p.dim() > 1 else 0.3))
    return block.to(torch.bfloat16).eval()


def kernel_times(fn, names: tuple[str, ...], repeats: int = 20) -> dict[str, float]:
    """Mean CUDA time per call (ms) of each kernel whose name contains one of ``names``."""
    fn()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(repeats):
            fn()
        torch.cuda.synchronize()
    times = dict.fromkeys(names, 0.0)
    for event in prof.key_averages():
        for name in names:
            if name in event.key:
                times[name] += event.device_time_total / 1000 / repeats
    return times


@torch.no_grad()
def measure(frames: int, device) -> dict:
    block = block_for(device)
    tokens = frames * HEIGHT * WIDTH
    x = torch.randn(1, tokens, HIDDEN, device=device, dtype=torch.bfloat16)
    rope = rope_table(HEAD_DIM, 3, frames, HEIGHT, WIDTH, device=device)
    heads = HIDDEN // HEAD_DIM
    state = dict(
        state_kv=torch.randn(1, heads, HEAD_DIM, HEAD_DIM, device=device) * 0.05,
        state_z=torch.rand(1, heads, HEAD_DIM, device=device),
    )
    row: dict = {"frames": frames, "tokens": tokens}
    outputs = {}
    for backend in ("chunkwise", "triton"):
        block.backend = backend
        outputs[backend] = block(x, frames, rope, **state)[0]
        row[f"block_{backend}_eager_ms"] = do_bench(lambda: block(x, frames, rope, **state), return_mode="median")
        try:
            compiled = torch.compile(block)
            compiled(x, frames, rope, **state)
            row[f"block_{backend}_compiled_ms"] = do_bench(
                lambda compiled=compiled: compiled(x, frames, rope, **state), return_mode="median"
            )
        except Exception as err:  # keep the other numbers
            row[f"block_{backend}_compiled_ms"] = float("nan")
            row[f"block_{backend}_compile_error"] = f"{type(err).__name__}: {str(err)[:300]}"
        torch._dynamo.reset()
    ref = outputs["chunkwise"].double()
    row["block_triton_vs_chunkwise_relrms"] = float(
        (outputs["triton"].double() - ref).pow(2).mean().sqrt() / ref.pow(2).mean().sqrt()
    )

    block.backend = "chunkwise"
    feats = block.features(x, frames, rope)  # float32, as the model feeds the PyTorch backend
    args32 = feats.as_args()
    args16 = [a.to(torch.bfloat16) if a.dim() == 5 else a for a in args32]
    row["recurrence_chunkwise_fp32_ms"] = do_bench(lambda: gdn_chunkwise(*args32, **state), return_mode="median")
    row["recurrence_triton_bf16_ms"] = do_bench(
        lambda: gdn_triton(*args16, **state, out_dtype=torch.bfloat16), return_mode="median"
    )
    row["triton_kernels_ms"] = kernel_times(
        lambda: gdn_triton(*args16, **state, out_dtype=torch.bfloat16),
        ("_summaries_kernel", "_scan_kernel", "_output_kernel"),
    )
    tuning = {}
    for block_s, block_rows, splits, scan in (
        (64, 32, None, "ieee"),
        (64, 16, None, "ieee"),
        (64, 64, None, "ieee"),
        (32, 16, None, "ieee"),
        (128, 16, None, "ieee"),
        (64, 16, 2, "ieee"),
        (64, 16, 8, "ieee"),
        (64, 32, None, "tf32x3"),
        (64, 16, None, "tf32x3"),
    ):
        key = f"block_s={block_s},block_rows={block_rows},splits={splits or 'auto'},scan={scan}"
        # device time of the three kernels (a whole eager call is CPU-bound: its wall time is launch overhead)
        tuning[key] = kernel_times(
            lambda b=block_s, r=block_rows, n=splits, p=scan: gdn_triton(
                *args16, **state, out_dtype=torch.bfloat16, block_s=b, block_rows=r, splits=n, scan_precision=p
            ),
            ("_summaries_kernel", "_scan_kernel", "_output_kernel"),
        )
        tuning[key]["total"] = sum(tuning[key].values())
    row["triton_tuning_ms"] = tuning
    block.backend = "triton"
    compiled = torch.compile(block)
    row["triton_kernels_in_compiled_block_ms"] = kernel_times(
        lambda: compiled(x, frames, rope, **state), ("_summaries_kernel", "_scan_kernel", "_output_kernel")
    )
    torch._dynamo.reset()
    feature_bytes = 5 * tokens * HIDDEN * 2  # q, k, v, q_rot, k_rot in bf16, read once
    row["recurrence_memory_floor_ms"] = (feature_bytes + tokens * HIDDEN * 2) / COPY_BYTES_PER_S * 1e3
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[3, 5])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = True  # as the bench and the editor run the float32 recurrence
    rows = [measure(t, torch.device("cuda")) for t in args.frames]
    for row in rows:
        print(
            f"T={row['frames']}: block eager chunkwise {row['block_chunkwise_eager_ms']:.3f} / triton "
            f"{row['block_triton_eager_ms']:.3f} ms; compiled {row['block_chunkwise_compiled_ms']:.3f} / "
            f"{row['block_triton_compiled_ms']:.3f} ms; recurrence {row['recurrence_chunkwise_fp32_ms']:.3f} / "
            f"{row['recurrence_triton_bf16_ms']:.3f} ms (floor {row['recurrence_memory_floor_ms']:.3f}); "
            f"kernels {json.dumps({k: round(v, 4) for k, v in row['triton_kernels_ms'].items()})}; "
            f"relrms {row['block_triton_vs_chunkwise_relrms']:.2e}; in the compiled block "
            f"{json.dumps({k: round(v, 4) for k, v in row['triton_kernels_in_compiled_block_ms'].items()})}; "
            f"tuning (kernel ms) {json.dumps({k: round(v['total'], 4) for k, v in row['triton_tuning_ms'].items()})}",
            flush=True,
        )
    line = "python " + " ".join(sys.argv)
    record = bench_record(line, {"rows": rows}, benchmark="benchmarks/gdn_kernels.py")
    if args.out:
        save_record(record, args.out)


if __name__ == "__main__":
    main()
