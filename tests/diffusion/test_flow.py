from __future__ import annotations

import itertools

import pytest
import torch

from sana_streaming.diffusion.flow import STREAMING_TIMESTEPS, chunk_boundaries, euler_step, sigmas_for


@pytest.mark.parametrize(
    ("frames", "expected"),
    [(11, [0, 5, 8, 11]), (122, [0, 5, *range(8, 123, 3)]), (9, [0, 3, 6, 9]), (10, [0, 4, 7, 10]), (2, [0, 2])],
)
def test_first_chunk_absorbs_the_remainder(frames, expected):
    assert chunk_boundaries(frames) == expected


def test_969_frame_video_is_one_chunk_of_5_then_39_of_3():
    bounds = chunk_boundaries(1 + (969 - 1) // 8)
    sizes = [b - a for a, b in itertools.pairwise(bounds)]
    assert sizes == [5] + [3] * 39


def test_streaming_sigmas_are_t_over_1000_then_zero():
    sigmas = sigmas_for(STREAMING_TIMESTEPS)
    assert sigmas.dtype == torch.float32
    assert torch.equal(sigmas, torch.tensor([1.0, 0.961, 0.893, 0.743, 0.0]))


def test_euler_steps_integrate_a_straight_flow_exactly():
    """With the true velocity (noise - x0) the Euler steps land on x0 from pure noise."""
    gen = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(2, 3, generator=gen), torch.randn(2, 3, generator=gen)
    sigmas = sigmas_for(STREAMING_TIMESTEPS)
    x = noise.clone()
    for i in range(len(STREAMING_TIMESTEPS)):
        x = euler_step(x, noise - x0, sigmas[i], sigmas[i + 1])
        torch.testing.assert_close(x, (1 - sigmas[i + 1]) * x0 + sigmas[i + 1] * noise)
    torch.testing.assert_close(x, x0)


def test_bad_frame_counts_are_rejected():
    with pytest.raises(ValueError, match="at least one frame"):
        chunk_boundaries(0)
