"""3D rotary position embedding (Wan style) over (frame, row, column) with absolute frame positions.

A head of dimension D is split into three groups of adjacent channel pairs (2i, 2i + 1): time, height and
width. For D = 112 the split is 40 / 36 / 36 real dimensions (20 / 18 / 18 pairs). Each axis has its own
frequency ladder theta ** (-2j / dim_axis).
"""

from __future__ import annotations

import torch
from torch import Tensor


def rope_split(head_dim: int) -> tuple[int, int, int]:
    """Real dimensions given to (time, height, width) for a head of ``head_dim`` channels."""
    spatial = 2 * (head_dim // 6)
    return head_dim - 2 * spatial, spatial, spatial


def _axis_angles(positions: Tensor, dim: int, theta: float) -> Tensor:
    inv_freq = 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.float64, device=positions.device) / dim)
    return positions.to(torch.float64)[:, None] * inv_freq[None, :]


def rope_angles(head_dim: int, frames: Tensor, height: int, width: int, theta: float = 10000.0) -> Tensor:
    """Rotation angles of every token, float64, (..., T * height * width, head_dim // 2).

    Args:
        frames: absolute frame index of each of the T frames (int tensor, shape (T,), or (B, T): one row of
            positions per stream of a batch).
    """
    t_dim, h_dim, w_dim = rope_split(head_dim)
    lead, num_frames = frames.shape[:-1], frames.shape[-1]
    grid = (*lead, num_frames, height, width)
    ang_t = _axis_angles(frames.reshape(-1), t_dim, theta).view(*lead, num_frames, 1, 1, -1).expand(*grid, -1)
    rows, cols = torch.arange(height, device=frames.device), torch.arange(width, device=frames.device)
    ang_h = _axis_angles(rows, h_dim, theta)[:, None].expand(*grid, -1)
    ang_w = _axis_angles(cols, w_dim, theta).expand(*grid, -1)
    return torch.cat([ang_t, ang_h, ang_w], dim=-1).reshape(*lead, num_frames * height * width, head_dim // 2)


def rope_table(
    head_dim: int,
    frame_start: int | Tensor,
    num_frames: int,
    height: int,
    width: int,
    *,
    device: torch.device | str | None = None,
    theta: float = 10000.0,
) -> tuple[Tensor, Tensor]:
    """(cos, sin) tables, float32, (num_frames * height * width, head_dim // 2), for frames [start, start + n).

    ``frame_start`` may be a 0-d integer tensor: the table is then computed on its device without reading it
    back, so a CUDA graph can replay it for a stream position that advances on the device. A 1-d tensor (B,)
    gives every sample of a batch its own start (streams at different points of their video): the tables are
    then (B, 1, N, head_dim // 2), which broadcast over the heads.
    """
    if isinstance(frame_start, Tensor):
        frames = frame_start[..., None] + torch.arange(num_frames, device=frame_start.device)
    else:
        frames = torch.arange(frame_start, frame_start + num_frames, device=device)
    angles = rope_angles(head_dim, frames, height, width, theta)
    if angles.dim() == 3:
        angles = angles[:, None]
    return angles.cos().float(), angles.sin().float()


def apply_rope(x: Tensor, rope: tuple[Tensor, Tensor]) -> Tensor:
    """Rotate adjacent channel pairs of ``x`` (..., N, D) by the token angles; computed in float32.

    Args:
        x: (..., N, D) features, token axis second to last.
        rope: (cos, sin), each (N, D // 2), or (B, 1, N, D // 2) per sample of ``x`` (B, H, N, D).

    Returns:
        Rotated features in the dtype of ``x``.
    """
    cos, sin = rope
    pairs = x.float().unflatten(-1, (-1, 2))
    even, odd = pairs[..., 0], pairs[..., 1]
    out = torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1)
    return out.flatten(-2).to(x.dtype)
