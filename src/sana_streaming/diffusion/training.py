"""Training-side rectified-flow math: timestep samplers, noising, targets. Pure functions, explicit generators.

Convention (as for sampling): x_t = (1 - sigma) x0 + sigma noise, sigma = t / 1000, velocity v = noise - x0.
"""

from __future__ import annotations

import torch
from torch import Tensor


def shift_sigma(sigma: Tensor, shift: float) -> Tensor:
    """Warp noise levels towards noise: shift * s / (1 + (shift - 1) s) (flow shift 3 in training, 8 at inference)."""
    return shift * sigma / (1 + (shift - 1) * sigma)


def sample_sigmas(
    batch: int, generator: torch.Generator, *, logit_mean: float = 0.0, logit_std: float = 1.0, shift: float = 3.0
) -> Tensor:
    """Logit-normal noise levels (B,), float32, shifted; drawn on the CPU from ``generator``."""
    normal = torch.randn(batch, generator=generator) * logit_std + logit_mean
    return shift_sigma(torch.sigmoid(normal), shift)


def noise_to(x0: Tensor, noise: Tensor, sigma: Tensor) -> Tensor:
    """x_t for per-sample sigma (B,) and latents (B, C, T, H, W)."""
    s = sigma.view(-1, *([1] * (x0.dim() - 1))).to(x0)
    return (1 - s) * x0 + s * noise


def velocity_target(x0: Tensor, noise: Tensor) -> Tensor:
    return noise - x0


def x0_from_velocity(x_t: Tensor, velocity: Tensor, sigma: Tensor) -> Tensor:
    """The clean estimate implied by a velocity prediction at noise level sigma (B,)."""
    s = sigma.view(-1, *([1] * (x_t.dim() - 1))).to(x_t)
    return x_t - s * velocity


def sample_dmd_timesteps(
    batch: int, generator: torch.Generator, *, shift: float = 8.0, t_min: int = 20, t_max: int = 980
) -> Tensor:
    """Uniform noise levels warped by ``shift``, as timesteps on the 0..1000 scale clamped to [t_min, t_max]."""
    sigma = shift_sigma(torch.rand(batch, generator=generator), shift)
    return (sigma * 1000).clamp(t_min, t_max)
