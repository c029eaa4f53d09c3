"""Low-precision linear layers: FP8 (e4m3, rowwise scales) through ``torch._scaled_mm`` on sm_89+, and NVFP4
as a numerical emulation (its tensor cores need Blackwell) for measuring the error a policy adds.

On a device without FP8 matrix units (the CPU) the FP8 layer computes the same rounding in emulation, so
CPU tests check the numerics that the GPU kernel runs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

E4M3_MAX = 448.0
E2M1_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)
NVFP4_BLOCK = 16


def quantize_rowwise(x: Tensor) -> tuple[Tensor, Tensor]:
    """(M, K) -> e4m3 values (M, K) and float32 scales (M, 1) with x ~= values * scales (amax per row -> 448)."""
    amax = x.abs().amax(dim=-1, keepdim=True).float().clamp(min=1e-12)
    scale = amax * (1.0 / E4M3_MAX)  # what PyTorch's CUDA kernel computes for a division by a scalar
    values = (x.float() / scale).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn)
    return values.contiguous(), scale  # cuBLASLt wants a row-major A and a column-major B


def fp8_supported(device: torch.device) -> bool:
    """FP8 matrix units: NVIDIA compute capability 8.9 or newer."""
    return device.type == "cuda" and torch.cuda.get_device_capability(device) >= (8, 9)


class Float8Linear(nn.Module):
    """y = x W^T + b with W quantized once per output row and x quantized per token at every call (e4m3)."""

    def __init__(self, matrix: Tensor, bias: Tensor | None) -> None:
        super().__init__()
        out_features, in_features = matrix.shape
        if in_features % 16 or out_features % 16:
            raise ValueError(f"FP8 GEMMs need sizes that are multiples of 16, got {out_features} x {in_features}")
        values, scale = quantize_rowwise(matrix.detach())
        self.register_buffer("weight_fp8", values)
        self.register_buffer("weight_scale", scale.t().contiguous())  # (1, out)
        self.register_buffer("bias", None if bias is None else bias.detach().clone())
        self.in_features, self.out_features = in_features, out_features
        self.quantize_activation = quantize_rowwise  # or the one-pass kernel: set_activation_quant

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        values, scale = self.quantize_activation(x.reshape(-1, self.in_features))
        if fp8_supported(x.device):
            bias = None if self.bias is None else self.bias.to(x.dtype)
            y = torch._scaled_mm(
                values, self.weight_fp8.t(), scale_a=scale, scale_b=self.weight_scale, bias=bias, out_dtype=x.dtype
            )
        else:  # emulation: the same rounding, computed in float32
            weight = self.weight_fp8.float() * self.weight_scale.t()
            y = F.linear(values.float() * scale, weight, None if self.bias is None else self.bias.float()).to(x.dtype)
        return y.reshape(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, fp8 e4m3 rowwise"


ACTIVATION_QUANT = ("torch", "triton")


def set_activation_quant(model: nn.Module, kind: str) -> int:
    """How every FP8 layer of ``model`` quantizes its input: ``torch`` (``quantize_rowwise``, which the compiler
    fuses into the producer) or ``triton`` (one opaque one-pass kernel, ``triton_fp8.py``; CUDA, or the CPU
    under ``TRITON_INTERPRET=1``). Returns the number of FP8 layers."""
    if kind not in ACTIVATION_QUANT:
        raise ValueError(f"activation quantization must be one of {', '.join(ACTIVATION_QUANT)}, got {kind!r}")
    quantize = quantize_rowwise
    if kind == "triton":
        from sana_streaming.ops.quant.triton_fp8 import quantize_rowwise_triton as quantize
    layers = [m for m in model.modules() if isinstance(m, Float8Linear)]
    for layer in layers:
        layer.quantize_activation = quantize
    return len(layers)


def fake_quantize_nvfp4(x: Tensor) -> Tensor:
    """Round (..., K) to NVFP4 (blocks of 16 along K, e2m1 values, e4m3 block scales) and back, in float32.

    Each magnitude goes to the nearest e2m1 value (ties to the smaller one), found by bucketing against the
    midpoints of the grid. Every result is exactly representable in bfloat16 (a 2-bit times a 4-bit
    significand), so a bf16 GEMM on these operands computes the NVFP4 product with float32 accumulation.
    """
    shape = x.shape
    blocks = x.float().reshape(-1, NVFP4_BLOCK)
    scale = (blocks.abs().amax(dim=-1, keepdim=True) / E2M1_VALUES[-1]).clamp(min=1e-12)
    scale = scale.to(torch.float8_e4m3fn).float().clamp(min=2**-9)
    grid = torch.tensor(E2M1_VALUES, device=x.device)
    scaled = blocks / scale
    index = torch.bucketize(scaled.abs(), (grid[1:] + grid[:-1]) / 2)
    return (grid[index] * scaled.sign() * scale).reshape(shape)


class NVFP4EmulatedLinear(nn.Module):
    """NVFP4 weights and activations, emulated (for error measurement on any GPU or the CPU; no speed-up).

    The rounded operands are exact in the model's dtype (bf16 included), so the GEMM runs in that dtype."""

    def __init__(self, matrix: Tensor, bias: Tensor | None) -> None:
        super().__init__()
        if matrix.shape[1] % NVFP4_BLOCK:
            raise ValueError(f"NVFP4 needs an input size that is a multiple of {NVFP4_BLOCK}, got {matrix.shape[1]}")
        self.register_buffer("weight", fake_quantize_nvfp4(matrix.detach()).to(matrix.dtype))
        self.register_buffer("bias", None if bias is None else bias.detach().clone())
        self.in_features, self.out_features = matrix.shape[1], matrix.shape[0]

    def forward(self, x: Tensor) -> Tensor:
        weight = self.weight.to(x.dtype)
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(fake_quantize_nvfp4(x).to(x.dtype), weight, bias)
