"""The one-pass FP8 activation quantizer against ``quantize_rowwise``: in Triton's interpreter on the CPU,
natively on the GPU."""

from __future__ import annotations

import pytest
import torch

from sana_streaming.ops.quant.fp8 import Float8Linear, quantize_rowwise, set_activation_quant
from tests.ops.interpreter import run_interpreted

triton = pytest.importorskip("triton")  # torch's CUDA builds ship it; the CPU CI image may not have it

SHAPES = ((5, 48), (3, 2240), (2, 6720), (1, 7))  # odd row counts; the 2B model's widths; a row under 16


def check(device: str, dtype: torch.dtype) -> None:
    """Values and scales equal the PyTorch quantizer's bit for bit (rows with outliers, zeros and a zero row)."""
    from sana_streaming.ops.quant.triton_fp8 import quantize_rowwise_triton

    gen = torch.Generator().manual_seed(0)
    for rows, cols in SHAPES:
        x = torch.randn(rows, cols, generator=gen) * torch.logspace(-3, 3, rows).unsqueeze(1)
        x[0, : cols // 3] = 0.0
        x[-1, -1] = 1e4
        if rows > 2:
            x[1] = 0.0  # amax clamps to 1e-12
        x = x.to(device=device, dtype=dtype)
        values, scale = quantize_rowwise_triton(x)
        want_values, want_scale = quantize_rowwise(x)
        assert values.dtype == torch.float8_e4m3fn and scale.shape == (rows, 1)
        torch.testing.assert_close(scale, want_scale, rtol=0, atol=0)
        assert torch.equal(values.view(torch.uint8), want_values.view(torch.uint8)), (rows, cols)
    if dtype == torch.float32:  # every e4m3 value and every midpoint between neighbours (ties to even)
        grid = torch.arange(256, dtype=torch.uint8).view(torch.float8_e4m3fn).float()
        grid = grid[torch.isfinite(grid)].unique()
        sweep = torch.cat([grid, (grid[1:] + grid[:-1]) / 2, torch.linspace(-448, 448, 32769 - 2 * grid.numel())])
        sweep = sweep.reshape(4, -1)
        rows = torch.cat([torch.full((4, 1), 448.0), sweep], 1).to(device)  # each row's scale is 1
        values, _ = quantize_rowwise_triton(rows)
        want_values, _ = quantize_rowwise(rows)
        assert torch.equal(values.view(torch.uint8), want_values.view(torch.uint8))
    wide = torch.zeros(2, 16385, device=device, dtype=dtype)
    with pytest.raises(ValueError, match="at most 16384"):
        quantize_rowwise_triton(wide)


def check_layer_compiled(device: str) -> None:
    """A compiled FP8 layer launches the kernel as it is: the output of the eager layer, bit for bit."""
    torch.manual_seed(0)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    linear = torch.nn.Linear(64, 32).to(device=device, dtype=dtype)
    layer = torch.nn.Sequential(Float8Linear(linear.weight, linear.bias))
    x = torch.randn(3, 10, 64, device=device, dtype=dtype)
    assert set_activation_quant(layer, "triton") == 1
    want = layer(x)
    compiled = torch.compile(lambda t: layer(t * 1.0), fullgraph=True)
    torch.testing.assert_close(compiled(x), want, rtol=0, atol=0)


def test_one_pass_quantizer_in_the_interpreter():
    run_interpreted("import torch; from tests.ops.test_quant_triton import check; check('cpu', torch.float32)")


def test_one_pass_quantizer_in_a_compiled_layer_in_the_interpreter():
    run_interpreted("from tests.ops.test_quant_triton import check_layer_compiled; check_layer_compiled('cpu')")


def test_unknown_activation_quantizer_is_a_clear_error():
    with pytest.raises(ValueError, match="torch, triton"):
        set_activation_quant(torch.nn.Linear(4, 4), "cuda")


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_one_pass_quantizer_on_gpu(dtype):
    check("cuda", dtype)


@pytest.mark.gpu
def test_one_pass_quantizer_in_a_compiled_layer_on_gpu():
    check_layer_compiled("cuda")
