"""Reconstruction losses of the video autoencoder (paper_notes 3.6): Charbonnier, Haar high-band L1, KL.

Videos are (B, C, T, H, W). Every loss is computed in float32 whatever the input dtype: the Charbonnier
epsilon squared (1e-12) underflows in float16, and the sums over a clip are long.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from sana_streaming.engine.stabilize import flow_grid, gray_for_flow, luma

PerceptualNet = Callable[[Tensor, Tensor], Tensor]


def charbonnier(x: Tensor, y: Tensor, eps: float = 1e-6) -> Tensor:
    """Mean of sqrt((x - y)^2 + eps^2): a smooth L1 whose gradient stays finite at x == y.

    Args:
        x, y: tensors of the same shape, any float dtype.
        eps: the smoothing scale; identical inputs give exactly ``eps``.

    Returns:
        A float32 scalar.
    """
    diff = x.float() - y.float()
    return torch.sqrt(diff * diff + eps * eps).mean()


def mse(x: Tensor, y: Tensor) -> Tensor:
    """Mean squared error in float32 (used for feature and output matching)."""
    return F.mse_loss(x.float(), y.float())


def haar_dwt2d(video: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Single-level orthonormal 2D Haar transform of every frame.

    Each 2 x 2 block [[a, b], [c, d]] gives LL = (a + b + c + d) / 2, LH = (a + b - c - d) / 2 (changes along
    H: horizontal edges), HL = (a - b + c - d) / 2 (changes along W: vertical edges), HH = (a - b - c + d) / 2.
    An odd H or W is first padded by repeating the last row or column, which adds no high-band energy.

    Args:
        video: (B, C, T, H, W), any float dtype.

    Returns:
        (LL, LH, HL, HH), each (B, C, T, ceil(H / 2), ceil(W / 2)) in float32.
    """
    if video.dim() != 5:
        raise ValueError(f"haar_dwt2d expects a video of shape (B, C, T, H, W), got shape {tuple(video.shape)}")
    x = video.float()
    pad_h, pad_w = x.shape[3] % 2, x.shape[4] % 2
    if pad_h or pad_w:
        x = torch.cat([x, x[:, :, :, -1:]], dim=3) if pad_h else x
        x = torch.cat([x, x[..., -1:]], dim=4) if pad_w else x
    a, b = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    c, d = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    return (a + b + c + d) / 2, (a + b - c - d) / 2, (a - b + c - d) / 2, (a - b - c + d) / 2


def haar_highband_l1(x: Tensor, y: Tensor) -> Tensor:
    """L1 distance between the LH, HL and HH Haar bands of two videos, averaged over all band coefficients.

    The transform is linear, so this is the L1 norm of the high bands of ``x - y``. The transform is orthonormal
    and each band has a quarter of the pixels, so for white-noise errors the value is on the scale of the per-pixel
    L1; an error that is smooth over 2 x 2 pixels (a blur-insensitive offset) scores close to zero.

    Args:
        x, y: (B, C, T, H, W) videos of the same shape.

    Returns:
        A float32 scalar.
    """
    if x.shape != y.shape:
        raise ValueError(f"haar_highband_l1: shapes differ, {tuple(x.shape)} vs {tuple(y.shape)}")
    _, lh, hl, hh = haar_dwt2d(x.float() - y.float())
    return torch.stack([lh.abs().mean(), hl.abs().mean(), hh.abs().mean()]).mean()


def kl_divergence(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)) of a diagonal Gaussian, averaged over elements.

    Args:
        mean, logvar: posterior parameters of the same shape, e.g. (B, latent, T', h, w).

    Returns:
        A float32 scalar; 0 for mean = logvar = 0.
    """
    mean, logvar = mean.float(), logvar.float()
    return 0.5 * (mean * mean + torch.exp(logvar) - 1.0 - logvar).mean()


def perceptual_per_frame(net: PerceptualNet, x: Tensor, y: Tensor) -> Tensor:
    """A 2D perceptual distance (e.g. LPIPS) applied frame by frame and averaged.

    Args:
        net: called as ``net(x_frames, y_frames)`` with (B * T, C, H, W) frames in the video's value range
            ([-1, 1] for this VAE); returns a distance tensor of any shape (its mean is used).
        x, y: (B, C, T, H, W) videos of the same shape.

    Returns:
        A float32 scalar.
    """
    frames_x = x.transpose(1, 2).flatten(0, 1)  # (B * T, C, H, W)
    frames_y = y.transpose(1, 2).flatten(0, 1)
    return net(frames_x, frames_y).float().mean()


def motion_grids(target: Tensor, flow_width: int = 384) -> Tensor:
    """grid_sample grids (B * (T - 1), H, W, 2) that carry each frame ``t`` of ``target`` (B, 3, T, H, W), in
    [-1, 1], onto frame ``t + 1`` along the target's own motion: OpenCV's DIS flow (ultrafast) on its luma, on the
    CPU, as the editor's temporal filter computes it (``engine.stabilize``); the clips in threads."""
    batch, channels, frames, height, width = target.shape
    if channels != 3:
        raise ValueError(f"motion_grids needs RGB videos, got {channels} channels")
    pixels = ((target.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    grays = luma(pixels.transpose(1, 2).flatten(0, 1)).view(batch, frames, height, width).cpu().numpy()

    def clip_flows(clip: np.ndarray) -> list[np.ndarray]:  # a thread per clip (OpenCV releases the GIL)
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)  # not shareable between threads
        small = [gray_for_flow(gray, flow_width) for gray in clip]
        return [dis.calc(small[t + 1], small[t], None) for t in range(frames - 1)]

    with ThreadPoolExecutor(max_workers=max(1, min(batch, os.cpu_count() or 1))) as pool:
        flows = [flow for clip in pool.map(clip_flows, grays) for flow in clip]
    return flow_grid(torch.from_numpy(np.stack(flows)).permute(0, 3, 1, 2).to(target.device), height, width)


def warped_change(
    recon: Tensor, target: Tensor, eps: float = 1e-6, tolerance: float = 0.16, grid: Tensor | None = None
) -> Tensor:
    """Charbonnier between the reconstruction's and the target's change from frame ``t``, carried along the
    target's motion (:func:`motion_grids`), to frame ``t + 1``: the flicker a warp error measures, which moving
    content does not cause. Each pixel weighs ``exp(-(e / tolerance) ** 2)``, ``e`` the target's own change there
    (mean over channels, [-1, 1] scale; 0.16 is the filter's 20 levels of 255): occlusions and scene cuts, where
    the flow cannot be followed, weigh nothing.

    Args:
        recon, target: (B, 3, T, H, W) videos in [-1, 1], T >= 2.
        grid: ``motion_grids(target)`` when already computed (e.g. on another thread while the GPU works).

    Returns:
        A float32 scalar (the weighted mean over pixels and channels).
    """
    grid = motion_grids(target) if grid is None else grid

    def change(video: Tensor) -> Tensor:
        previous = video[:, :, :-1].transpose(1, 2).flatten(0, 1).float()  # (B * (T - 1), C, H, W)
        current = video[:, :, 1:].transpose(1, 2).flatten(0, 1).float()
        return F.grid_sample(previous, grid, "bilinear", "border", align_corners=True) - current

    of_recon, of_target = change(recon), change(target)
    weight = torch.exp(-((of_target.abs().mean(1, keepdim=True) / tolerance) ** 2)).detach()
    distance = torch.sqrt((of_recon - of_target) ** 2 + eps * eps)
    return (weight * distance).sum() / (weight.sum() * distance.shape[1]).clamp_min(1e-12)


@dataclass(frozen=True)
class ReconstructionLoss:
    """Weighted sum of the autoencoder reconstruction terms (the lambdas of paper_notes 3.6, not published).

    Defaults:
        charbonnier 1.0: the main pixel term (paper: Charbonnier, eps 1e-6).
        haar 0.5: with the orthonormal transform and the per-coefficient mean, the high-band term of a
            pixel-scale (white) error is about as large as its Charbonnier term, and that of a smooth error is
            about 0. So 0.5 makes errors in edges and texture cost about 1.5x as much as smooth errors of the
            same size: enough to fight the blur of a pixel loss, not so much that it outweighs colour and
            low-frequency fit. Same as the recipe default (``VAETrainConfig.haar``).
        kl 1e-6: only keeps the posterior from drifting without bound (the LTX-style VAEs are nearly
            deterministic autoencoders); larger values blur the reconstruction.
        temporal 0.0: Charbonnier between the reconstruction's and the target's frame-to-frame differences. A
            per-frame loss leaves each frame's error free to change from frame to frame, which a video shows as
            flicker (the tiny VAE's reconstruction of a held-out clip had twice the clip's own warp error); this
            term charges that change directly. Ours, not the paper's.
        warped_temporal 0.0: the same along the target's motion (:func:`warped_change`): on moving content the
            plain term also charges the error's move with the content, this one only its flicker. Ours.
        perceptual 0.0: LPIPS-Alex in the paper; no network with weights ships offline, so the caller passes one
            as ``perceptual_net`` (frozen, see :func:`perceptual_per_frame`) together with a positive weight.
        eps: the Charbonnier epsilon.
    """

    charbonnier: float = 1.0
    haar: float = 0.5
    kl: float = 1e-6
    temporal: float = 0.0
    warped_temporal: float = 0.0
    perceptual: float = 0.0
    perceptual_net: PerceptualNet | None = None
    eps: float = 1e-6

    def __post_init__(self) -> None:
        weights = {
            "charbonnier": self.charbonnier,
            "haar": self.haar,
            "kl": self.kl,
            "temporal": self.temporal,
            "warped_temporal": self.warped_temporal,
            "perceptual": self.perceptual,
        }
        negative = [f"{k}={v}" for k, v in weights.items() if v < 0]
        if negative:
            raise ValueError(f"ReconstructionLoss weights must be >= 0, got {', '.join(negative)}")
        if self.perceptual > 0 and self.perceptual_net is None:
            raise ValueError(
                f"ReconstructionLoss(perceptual={self.perceptual}) needs a perceptual_net (e.g. a frozen LPIPS "
                "module); none ships with this package, so pass one or set perceptual=0"
            )

    def __call__(
        self, recon: Tensor, target: Tensor, mean: Tensor | None = None, logvar: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Total loss and its unweighted parts.

        Args:
            recon, target: (B, C, T, H, W) videos of the same shape.
            mean, logvar: the posterior; the KL term is used only when both are given and ``kl`` > 0.

        Returns:
            (total float32 scalar with grad, {name: detached unweighted term}); terms with weight 0 are skipped.
        """
        if recon.shape != target.shape:
            raise ValueError(
                f"reconstruction of shape {tuple(recon.shape)} does not match the target {tuple(target.shape)}"
            )
        parts = {"charbonnier": charbonnier(recon, target, self.eps)}
        total = self.charbonnier * parts["charbonnier"]
        if self.haar > 0:
            parts["haar"] = haar_highband_l1(recon, target)
            total = total + self.haar * parts["haar"]
        if self.temporal > 0 and recon.shape[2] > 1:
            parts["temporal"] = charbonnier(recon.diff(dim=2), target.diff(dim=2), self.eps)
            total = total + self.temporal * parts["temporal"]
        if self.warped_temporal > 0 and recon.shape[2] > 1:
            parts["warped_temporal"] = warped_change(recon, target, self.eps)
            total = total + self.warped_temporal * parts["warped_temporal"]
        if self.kl > 0 and mean is not None and logvar is not None:
            parts["kl"] = kl_divergence(mean, logvar)
            total = total + self.kl * parts["kl"]
        if self.perceptual > 0:
            parts["perceptual"] = perceptual_per_frame(self.perceptual_net, recon, target)
            total = total + self.perceptual * parts["perceptual"]
        return total, {name: value.detach() for name, value in parts.items()}
