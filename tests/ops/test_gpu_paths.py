"""GPU paths against their references: the GDN backends in fp32 and bf16, FP8 GEMMs (GPU only)."""

from __future__ import annotations

import pytest
import torch

from sana_streaming.ops.gdn.chunkwise import gdn_chunkwise
from sana_streaming.ops.gdn.reference import gdn_bidirectional
from sana_streaming.ops.quant.fp8 import Float8Linear
from tests.ops.test_gdn_reference import random_inputs

pytestmark = pytest.mark.gpu

RELRMS = {torch.float32: 2e-3, torch.bfloat16: 5e-3}  # the named kernel tolerances (STYLE.md)


def rel_rms(a, b) -> float:
    return ((a.double() - b.double()).pow(2).mean().sqrt() / b.double().pow(2).mean().sqrt()).item()


@pytest.mark.parametrize("tf32", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("chunks", [None, (4, 3)])
def test_chunkwise_gdn_on_gpu(dtype, chunks, tf32, monkeypatch):
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", tf32)
    args = [a.cuda() for a in random_inputs(batch=2, heads=3, frames=7, spatial=37, dk=112, dv=112, seed=3)]
    init = dict(
        state_kv=torch.randn(2, 3, 112, 112, device="cuda") * 0.05, state_z=torch.rand(2, 3, 112, device="cuda")
    )
    ref, ref_kv, _ = gdn_bidirectional(
        *[a.double() for a in args], chunks=chunks, **{k: v.double() for k, v in init.items()}
    )
    # bf16 inputs, fp32 state: as the model feeds the recurrence
    low = [a.to(dtype).float() for a in args]
    out, kv, _ = gdn_chunkwise(*low, chunks=chunks, **init)
    assert torch.isfinite(out).all()
    assert rel_rms(out, ref) <= RELRMS[dtype]
    assert rel_rms(kv, ref_kv) <= RELRMS[dtype]


def test_fp8_gemm_matches_its_emulation():
    torch.manual_seed(0)
    linear = torch.nn.Linear(2240, 6720).cuda().bfloat16()
    fp8 = Float8Linear(linear.weight, linear.bias)
    x = torch.randn(4, 880, 2240, device="cuda", dtype=torch.bfloat16)
    fast = fp8(x)
    emulated = fp8.cpu()(x.cpu()).cuda()
    assert fast.dtype == torch.bfloat16
    assert rel_rms(fast, emulated) < 1e-2
    assert rel_rms(fast, linear(x)) < 5e-2
