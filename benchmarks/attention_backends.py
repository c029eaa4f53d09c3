"""Softmax attention at the 2B model's sizes on one GPU: every SDPA backend, and flex attention, side by side.

Shapes (bf16, 20 heads of 112): a steady streaming chunk's self-attention, 2,640 queries over the sink (the
5-frame first chunk, 4,400 tokens), the previous chunk and itself (9,680 keys); the first chunk alone
(4,400 over 4,400); and cross-attention to 300 text tokens. For each backend: the median time
(``triton.testing.do_bench``), the achieved TFLOP/s, and the error against float32 math.

    python benchmarks/attention_backends.py --out benchmarks/results/attention_backends_h200.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from triton.testing import do_bench

from sana_streaming.engine.bench import bench_record, save_record

HEADS, HEAD_DIM = 20, 112
SHAPES = {"steady self-attention": (2640, 9680), "first chunk": (4400, 4400), "cross-attention": (2640, 300)}
BACKENDS = {
    "flash": SDPBackend.FLASH_ATTENTION,
    "cudnn": SDPBackend.CUDNN_ATTENTION,
    "efficient": SDPBackend.EFFICIENT_ATTENTION,
}


def flex():
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False)


@torch.no_grad()
def measure(queries: int, keys: int, device) -> dict:
    gen = torch.Generator(device).manual_seed(0)
    q = torch.randn(1, HEADS, queries, HEAD_DIM, device=device, dtype=torch.bfloat16, generator=gen)
    k = torch.randn(1, HEADS, keys, HEAD_DIM, device=device, dtype=torch.bfloat16, generator=gen)
    v = torch.randn(1, HEADS, keys, HEAD_DIM, device=device, dtype=torch.bfloat16, generator=gen)
    reference = F.scaled_dot_product_attention(q.float(), k.float(), v.float())
    flops = 4 * HEADS * queries * keys * HEAD_DIM
    row = {"queries": queries, "keys": keys}
    candidates = {name: (lambda b=backend: _sdpa(q, k, v, b)) for name, backend in BACKENDS.items()}
    compiled_flex = flex()
    candidates["flex (compiled)"] = lambda: compiled_flex(q, k, v)
    for name, fn in candidates.items():
        try:
            out = fn()
            ms = do_bench(fn, return_mode="median")
        except Exception as err:  # a backend that does not take this shape: say why, keep the others
            row[name] = {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"}
            continue
        error = float((out.float() - reference).norm() / reference.norm())
        row[name] = {"ms": ms, "tflops": flops / ms / 1e9, "rel_error": error}
    return row


def _sdpa(q, k, v, backend):
    with sdpa_kernel([backend]):
        return F.scaled_dot_product_attention(q, k, v)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    device = torch.device("cuda")
    rows = {label: measure(nq, nk, device) for label, (nq, nk) in SHAPES.items()}
    for label, row in rows.items():
        cells = [
            f"{name} {r['ms'] * 1000:.0f} us ({r['tflops']:.0f} TFLOP/s, err {r['rel_error']:.1e})"
            if "ms" in r
            else f"{name} failed"
            for name, r in row.items()
            if isinstance(r, dict)
        ]
        print(f"{label} ({row['queries']} x {row['keys']}): " + "; ".join(cells), flush=True)
    line = "python " + " ".join(sys.argv)
    record = bench_record(line, {"shapes": rows}, benchmark="benchmarks/attention_backends.py")
    if args.out:
        save_record(record, args.out)


if __name__ == "__main__":
    main()
