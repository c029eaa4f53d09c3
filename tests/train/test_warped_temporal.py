"""The VAE's motion-aware flicker term (ReconstructionLoss.warped_temporal) on hand-made videos: moving texture,
flicker, scene cuts."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from sana_streaming.train.vae_losses import ReconstructionLoss, motion_grids, warped_change

STEP = 2  # pixels a frame the content moves right


def _texture(height: int, width: int, seed: int) -> torch.Tensor:
    """A smooth RGB texture in about [-0.7, 0.7], (3, H, W)."""
    small = torch.rand(1, 3, height // 8 + 2, width // 8 + 2, generator=torch.Generator().manual_seed(seed))
    return (F.interpolate(small, size=(height, width), mode="bicubic", align_corners=False)[0] - 0.5) * 1.4


def _moving(texture: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
    """(1, 3, T, H, W): crops of ``texture`` moving STEP pixels right a frame (the view pans left)."""
    start = STEP * frames
    crops = [texture[:, :height, start - STEP * t : start - STEP * t + width] for t in range(frames)]
    return torch.stack(crops, dim=1)[None]


def test_the_flow_carries_each_frame_onto_the_next():
    texture = _texture(48, 96 + STEP * 8, seed=0)
    video = _moving(texture, 6, 48, 96)
    grid = motion_grids(video)
    assert grid.shape == (5, 48, 96, 2)
    carried = F.grid_sample(video[0, :, :-1].transpose(0, 1), grid, "bilinear", "border", align_corners=True)
    inner = (slice(None), slice(None), slice(6, -6), slice(10, -10))
    assert (carried - video[0, :, 1:].transpose(0, 1))[inner].abs().mean() < 0.01


def test_moving_texture_costs_little_and_flicker_much():
    height, width, frames = 48, 96, 8
    target = _moving(_texture(height, width + STEP * frames, seed=1), frames, height, width)
    # an error pattern that moves with the content (no flicker) and one drawn anew every frame (flicker)
    pattern = _texture(height, width + STEP * frames, seed=2) * 0.1
    moving_error = target + _moving(pattern, frames, height, width)
    noise = torch.randn(target.shape, generator=torch.Generator().manual_seed(3)) * 0.05
    flicker = target + F.avg_pool3d(noise, (1, 3, 3), stride=1, padding=(0, 1, 1))
    warped = {name: warped_change(v, target).item() for name, v in (("moving", moving_error), ("flicker", flicker))}
    assert warped["moving"] < 0.35 * warped["flicker"]
    # the plain frame-difference term cannot tell the two apart as well: it charges the error's move too
    plain = ReconstructionLoss(charbonnier=0, haar=0, kl=0, temporal=1.0)
    assert plain(moving_error, target)[0] > 0.5 * plain(flicker, target)[0]
    assert warped_change(target, target).item() < 1e-5  # a perfect reconstruction: eps


def test_a_scene_cut_weighs_nothing():
    height, width, frames = 48, 96, 6
    first = _moving(_texture(height, width + STEP * frames, seed=4), 3, height, width)
    second = _moving(_texture(height, width + STEP * frames, seed=5), 3, height, width)
    target = torch.cat([first, second], dim=2)
    shifted = target.clone()
    shifted[:, :, 3:] += 0.3  # all frames after the cut off by a constant: only the pair across the cut changes
    assert warped_change(shifted, target).item() < 0.02


def test_the_term_trains_the_reconstruction_and_joins_the_total():
    target = _moving(_texture(40, 64 + STEP * 5, seed=6), 5, 40, 64)
    recon = (target + 0.05 * torch.randn(target.shape, generator=torch.Generator().manual_seed(7))).requires_grad_()
    total, parts = ReconstructionLoss(haar=0.0, kl=0.0, warped_temporal=2.0)(recon, target)
    torch.testing.assert_close(total, parts["charbonnier"] + 2.0 * parts["warped_temporal"])
    total.backward()
    assert recon.grad is not None and np.isfinite(recon.grad.numpy()).all() and recon.grad.abs().sum() > 0
