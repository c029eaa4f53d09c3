"""The GDN reference op: official fixture values, and the streaming invariant at op level."""

from __future__ import annotations

import pytest
import torch

from sana_streaming.eval.official_fixtures import OP_TOL, FixtureFolder, gdn_op_cases
from sana_streaming.ops.gdn.reference import gdn_bidirectional, gdn_recurrence
from tests.conftest import FIXTURES

TOL = dict(atol=1e-6, rtol=1e-6)  # same math, different association: float32 rounding only


def random_inputs(batch=2, heads=3, frames=7, spatial=5, dk=10, dv=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    scale = (dk * spatial) ** -0.5

    def rand(*shape):
        return torch.randn(*shape, generator=gen)

    q = rand(batch, heads, frames, spatial, dk).relu()
    k = rand(batch, heads, frames, spatial, dk).relu() * scale
    rot = torch.linalg.qr(rand(dk, dk))[0]  # any fixed orthogonal map stands in for RoPE here
    return (
        q,
        k,
        rand(batch, heads, frames, spatial, dv),
        q @ rot,
        k @ rot,
        torch.sigmoid(rand(batch, heads, frames, spatial)),
        torch.sigmoid(rand(batch, heads, frames) + 2),
    )


def test_official_gdn_op_cases_pass():
    results = [r for r in gdn_op_cases(FixtureFolder(FIXTURES)) if r.name.startswith("gdn_op.")]
    assert len(results) == 9
    assert all(r.atol == OP_TOL[0] for r in results)
    failed = [r.line() for r in results if not r.passed]
    assert not failed, failed


@pytest.mark.parametrize("split", [1, 3, 6])
def test_forward_scan_resumes_from_carried_state(split):
    args = random_inputs()
    init = (torch.randn(2, 3, 6, 10) * 0.1, torch.rand(2, 3, 10))
    num, den, kv, z = gdn_recurrence(*args, *init)
    head = [a[:, :, :split] for a in args]
    tail = [a[:, :, split:] for a in args]
    num1, den1, kv1, z1 = gdn_recurrence(*head, *init)
    num2, den2, kv2, z2 = gdn_recurrence(*tail, kv1, z1)
    torch.testing.assert_close(torch.cat([num1, num2], 2), num, **TOL)
    torch.testing.assert_close(torch.cat([den1, den2], 2), den, **TOL)
    torch.testing.assert_close(kv2, kv, **TOL)
    torch.testing.assert_close(z2, z, **TOL)


def test_chunked_bidirectional_equals_streaming_chunks():
    args = random_inputs(frames=8)
    out, kv, z = gdn_bidirectional(*args, chunks=(5, 3))
    out_a, kv_a, z_a = gdn_bidirectional(*(a[:, :, :5] for a in args))
    out_b, kv_b, z_b = gdn_bidirectional(*(a[:, :, 5:] for a in args), state_kv=kv_a, state_z=z_a)
    torch.testing.assert_close(torch.cat([out_a, out_b], 2), out, **TOL)
    torch.testing.assert_close(kv_b, kv, **TOL)
    torch.testing.assert_close(z_b, z, **TOL)


def test_backward_scan_sees_only_later_frames_of_its_chunk():
    args = list(random_inputs(frames=6))
    out, _, _ = gdn_bidirectional(*args, chunks=(3, 3))
    changed = [a.clone() for a in args]
    changed[2][:, :, 4] += 1.0  # values of frame 4 (chunk 1)
    out2, _, _ = gdn_bidirectional(*changed, chunks=(3, 3))
    diff = (out2 - out).abs().amax(dim=(0, 1, 3, 4))
    assert torch.all(diff[:3] == 0), "chunk 0 must not see chunk 1"
    assert diff[3] > 1e-3 and diff[4] > 1e-3, "frame 3 sees frame 4 backward, frame 4 itself forward"
    assert diff[5] > 1e-3  # forward scan carries frame 4 into frame 5


def test_chunks_must_cover_the_frames():
    with pytest.raises(ValueError, match="do not add up"):
        gdn_bidirectional(*random_inputs(frames=6), chunks=(3, 2))
