"""Per-token FP8 quantization of activations in one pass over memory (Triton).

``quantize_rowwise`` in PyTorch reads a row twice (amax, then divide and cast); under ``torch.compile`` the
compiler fuses it into the producer of the row as a looped reduction that recomputes the producer. Here one
program holds a whole row on chip (rows of up to 16,384 elements): it reads the row once, takes its absolute
maximum, and writes the e4m3 values and the float32 scale. The rounding is the same as ``quantize_rowwise``
(exact divisions, round to nearest even, saturation at 448, computed explicitly so that
the interpreter agrees). The kernel is one opaque custom operator, so
compiled code launches it as it is.

Tested against ``quantize_rowwise`` in Triton's interpreter on the CPU and natively on the GPU
(tests/ops/test_quant_triton.py).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from sana_streaming.ops.quant.fp8 import E4M3_MAX

MAX_ROW = 16384


@triton.jit
def _round_to_e4m3(x):
    """Round float32 to the nearest e4m3 value (ties to even), in float32, so that the cast after it is exact
    on every backend (Triton's interpreter rounds some casts wrongly). Normal range: keep 3 mantissa bits of
    the float32 pattern. Below 2^-6 (e4m3's subnormals, spacing 2^-9): shift by 2^-6 so the same 3-bit
    rounding has that spacing, then shift back (both exact)."""
    magnitude = tl.abs(x)
    small = magnitude < 0.015625
    shifted = tl.where(small, magnitude + 0.015625, magnitude)
    bits = shifted.to(tl.int32, bitcast=True)
    bits = (bits + 0x7FFFF + ((bits >> 20) & 1)) & ~0xFFFFF
    rounded = bits.to(tl.float32, bitcast=True)
    rounded = tl.where(small, rounded - 0.015625, rounded)
    sign = x.to(tl.int32, bitcast=True) & -0x80000000  # kept, so that -0.001 gives -0 as the cast does
    return (rounded.to(tl.int32, bitcast=True) | sign).to(tl.float32, bitcast=True)


@triton.jit
def _rowwise_kernel(
    x_ptr, values_ptr, scale_ptr, n_cols, x_stride, values_stride, FP8_MAX: tl.constexpr, BLOCK: tl.constexpr
):
    row = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK)
    mask = offs < n_cols
    x = tl.load(x_ptr + row * x_stride + offs, mask=mask, other=0.0).to(tl.float32)
    amax = tl.maximum(tl.max(tl.abs(x), axis=0), 1e-12)
    scale = amax * (1.0 / FP8_MAX)  # as quantize_rowwise (PyTorch's CUDA division by a scalar multiplies)
    scaled = tl.math.div_rn(x, scale)
    scaled = tl.minimum(tl.maximum(scaled, -FP8_MAX), FP8_MAX)
    tl.store(values_ptr + row * values_stride + offs, _round_to_e4m3(scaled).to(tl.float8e4nv), mask=mask)
    tl.store(scale_ptr + row, scale)


@torch.library.custom_op("sana_streaming::fp8_quantize_rowwise", mutates_args=())
def quantize_rowwise_triton(x: Tensor) -> tuple[Tensor, Tensor]:
    """(M, K) -> e4m3 values (M, K) and float32 scales (M, 1), as ``fp8.quantize_rowwise``, in one kernel."""
    if x.dim() != 2 or x.shape[1] > MAX_ROW:
        raise ValueError(f"expected a matrix with rows of at most {MAX_ROW} elements, got shape {tuple(x.shape)}")
    if x.stride(-1) != 1:
        x = x.contiguous()
    rows, cols = x.shape
    values = torch.empty(rows, cols, device=x.device, dtype=torch.float8_e4m3fn)
    scale = torch.empty(rows, 1, device=x.device, dtype=torch.float32)
    if rows:
        block = max(16, triton.next_power_of_2(cols))
        warps = min(16, max(1, block // 512))
        _rowwise_kernel[(rows,)](
            x, values, scale, cols, x.stride(0), values.stride(0), E4M3_MAX, block, num_warps=warps
        )
    return values, scale


@quantize_rowwise_triton.register_fake
def _(x: Tensor) -> tuple[Tensor, Tensor]:
    rows, cols = x.shape
    return x.new_empty(rows, cols, dtype=torch.float8_e4m3fn), x.new_empty(rows, 1, dtype=torch.float32)
