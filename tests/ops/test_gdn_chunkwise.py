"""The three-phase (chunkwise) GDN equals the frame-loop reference."""

from __future__ import annotations

import pytest
import torch

from sana_streaming.ops.gdn.chunkwise import gdn_chunkwise
from sana_streaming.ops.gdn.reference import gdn_bidirectional
from tests.ops.test_gdn_reference import random_inputs


def rel_rms(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).pow(2).mean().sqrt() / b.pow(2).mean().sqrt()).item()


@pytest.mark.parametrize("chunks", [None, (3, 4), (1, 1, 5), (7,)])
@pytest.mark.parametrize("with_state", [False, True])
def test_chunkwise_equals_reference(chunks, with_state):
    args = random_inputs(batch=2, heads=3, frames=7, spatial=9, dk=10, dv=6, seed=1)
    init = {}
    if with_state:
        init = dict(state_kv=torch.randn(2, 3, 6, 10) * 0.1, state_z=torch.rand(2, 3, 10))
    out, kv, z = gdn_chunkwise(*args, chunks=chunks, **init)
    ref_out, ref_kv, ref_z = gdn_bidirectional(*args, chunks=chunks, **init)
    assert torch.isfinite(out).all()
    assert rel_rms(out, ref_out) < 1e-6
    torch.testing.assert_close(kv, ref_kv, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(z, ref_z, atol=1e-6, rtol=1e-5)


def test_chunkwise_rejects_bad_chunks():
    with pytest.raises(ValueError, match="do not add up"):
        gdn_chunkwise(*random_inputs(frames=5), chunks=(2, 2))
