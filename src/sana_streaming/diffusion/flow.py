"""Rectified-flow sampling math: pure functions on tensors, float32.

Convention: x_t = (1 - sigma) * x0 + sigma * noise with sigma = t / 1000; the model predicts the velocity
v = noise - x0, so an Euler step from sigma to sigma_next is x + (sigma_next - sigma) * v.
"""

from __future__ import annotations

import torch
from torch import Tensor

# The released 4-step streaming schedule (sigma = t / 1000, then 0).
STREAMING_TIMESTEPS = (1000, 961, 893, 743)


def timesteps_for_steps(steps: int, shift: float = 8.0) -> tuple[int, ...]:
    """Denoising timesteps for ``steps`` steps: the released lists for 4 and 2 steps, otherwise evenly spaced
    noise levels warped by the inference flow shift (8, as the official inference config)."""
    if steps == 4:
        return STREAMING_TIMESTEPS
    if steps == 2:
        return (1000, 743)
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    levels = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)[:-1]
    shifted = shift * levels / (1 + (shift - 1) * levels)
    return tuple(round(1000 * float(s)) for s in shifted)


def sigmas_for(timesteps: tuple[int, ...] | list[int]) -> Tensor:
    """Noise levels t / 1000 followed by a final 0, float32 (len(timesteps) + 1,)."""
    t = torch.tensor(list(timesteps), dtype=torch.int64)
    return torch.cat([t / 1000, torch.zeros(1)]).float()


def euler_step(x: Tensor, velocity: Tensor, sigma: Tensor, sigma_next: Tensor) -> Tensor:
    """One Euler step of the flow ODE, in float32: x + (sigma_next - sigma) * v."""
    return x.float() + (sigma_next - sigma) * velocity.float()


def chunk_boundaries(total_frames: int, chunk_frames: int = 3) -> list[int]:
    """Frame boundaries [0, b1, ..., total] of the streaming chunks; the first chunk absorbs the remainder.

    For 11 latent frames and chunks of 3: [0, 5, 8, 11]. Fewer frames than one chunk give one chunk.
    """
    if total_frames < 1 or chunk_frames < 1:
        raise ValueError(f"need at least one frame and one frame per chunk, got {total_frames} and {chunk_frames}")
    first = chunk_frames + total_frames % chunk_frames if total_frames >= chunk_frames else total_frames
    return [0, *range(first, total_frames + 1, chunk_frames)]
