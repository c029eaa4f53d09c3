"""The fused Triton GDN against the reference: in Triton's interpreter on the CPU, natively on the GPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sana_streaming.ops.gdn.reference import gdn_bidirectional
from tests.ops.test_gdn_reference import random_inputs

triton = pytest.importorskip("triton")  # torch's CUDA builds ship it; the CPU CI image may not have it

RELRMS = {torch.float32: 2e-3, torch.bfloat16: 5e-3}


def rel_rms(a, b) -> float:
    return ((a.double() - b.double()).pow(2).mean().sqrt() / b.double().pow(2).mean().sqrt()).item()


def check(device: str, dtype: torch.dtype, chunks, with_state: bool) -> None:
    from sana_streaming.ops.gdn.triton_kernel import gdn_triton

    args = [a.to(device) for a in random_inputs(batch=1, heads=2, frames=5, spatial=37, dk=20, dv=12, seed=4)]
    init = {}
    if with_state:
        init = dict(
            state_kv=torch.randn(1, 2, 12, 20, device=device) * 0.1, state_z=torch.rand(1, 2, 20, device=device)
        )
    ref, ref_kv, ref_z = gdn_bidirectional(
        *[a.double() for a in args], chunks=chunks, **{k: v.double() for k, v in init.items()}
    )
    low = [a.to(dtype) if a.dim() == 5 else a for a in args]  # features in dtype; gates stay float32
    out, kv, z = gdn_triton(*low, chunks=chunks, **init, block_s=16)
    assert torch.isfinite(out).all()
    assert rel_rms(out, ref) <= RELRMS[dtype]
    assert rel_rms(kv, ref_kv) <= RELRMS[dtype] and rel_rms(z, ref_z) <= RELRMS[dtype]


@pytest.mark.parametrize("chunks", [None, (2, 3)])
@pytest.mark.parametrize("with_state", [False, True])
def test_triton_gdn_in_the_interpreter(chunks, with_state):
    if torch.cuda.is_available():
        pytest.skip("the native GPU test covers this")
    if tuple(int(p) for p in __import__("numpy").__version__.split(".")[:2]) >= (2, 3):
        pytest.skip("Triton 3.6's interpreter needs numpy < 2.3 (it converts 1-element arrays with int())")
    # Interpreter mode is read when Triton is first imported: run in a fresh process.
    code = (
        "import torch; from tests.ops.test_gdn_triton import check; "
        f"check('cpu', torch.float32, {chunks!r}, {with_state})"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env={**os.environ, "TRITON_INTERPRET": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("chunks", [None, (2, 3)])
def test_triton_gdn_on_gpu(dtype, chunks):
    check("cuda", dtype, chunks, with_state=True)
