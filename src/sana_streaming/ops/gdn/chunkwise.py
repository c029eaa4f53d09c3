"""The frame-wise GDN through per-frame summaries: the three-phase form of the fused kernel, in PyTorch.

Each frame's update of the numerator state is affine in the state (README: "Forward scan"):

    S_f = alpha_f S_{f-1} (I - P_f) + A_f,    P_f = K̂_fᵀ diag(beta_f) K̂_f,    A_f = V_fᵀ diag(beta_f) K̂_f
    z_f = alpha_f (I - Pz_f) z_{f-1} + a_f,   Pz_f = K_fᵀ diag(beta_f) K_f,  a_f = K_fᵀ beta_f

Phase A computes the summaries for all frames at once (batched matmuls over the S tokens), phase B runs the
short scans over frames on D x D states (forward across chunks, backward inside each chunk), and phase C
reads every query once against the summed forward + backward state. Same results as ``reference.py`` up
to float rounding, with about 4 S D² instead of 6 S D² multiply-adds per frame, and a few large kernels.
"""

from __future__ import annotations

import torch
from torch import Tensor


def frame_summaries(k: Tensor, v: Tensor, k_rot: Tensor, beta: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Phase A: P (B, H, T, Dk, Dk), A (B, H, T, Dv, Dk), Pz (B, H, T, Dk, Dk), a (B, H, T, Dk)."""
    k_rot_b = k_rot * beta[..., None]
    k_b = k * beta[..., None]
    return k_rot_b.transpose(-1, -2) @ k_rot, v.transpose(-1, -2) @ k_rot_b, k_b.transpose(-1, -2) @ k, k_b.sum(-2)


def _step(state: Tensor, z: Tensor, alpha: Tensor, p: Tensor, a: Tensor, pz: Tensor, az: Tensor):
    """One frame of the recurrence on (B, H, Dv, Dk) and (B, H, Dk) states."""
    alpha = alpha[..., None]
    state = alpha[..., None] * (state - state @ p) + a
    z = alpha * (z - (pz @ z[..., None])[..., 0]) + az
    return state, z


def gdn_chunkwise(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    q_rot: Tensor,
    k_rot: Tensor,
    beta: Tensor,
    decay: Tensor,
    *,
    chunks: tuple[int, ...] | None = None,
    state_kv: Tensor | None = None,
    state_z: Tensor | None = None,
    eps: float = 1e-8,
) -> tuple[Tensor, Tensor, Tensor]:
    """Drop-in equivalent of :func:`sana_streaming.ops.gdn.reference.gdn_bidirectional` (same arguments, layout
    (B, H, T, S, D), same returns: output and the forward scan's final states)."""
    batch, heads, frames, _, dk = q.shape
    dv = v.shape[-1]
    chunks = chunks or (frames,)
    if sum(chunks) != frames:
        raise ValueError(f"chunk sizes {chunks} do not add up to {frames} frames")
    p, a, pz, az = frame_summaries(k, v, k_rot, beta)
    state = q.new_zeros(batch, heads, dv, dk) if state_kv is None else state_kv.to(q.dtype)
    z = q.new_zeros(batch, heads, dk) if state_z is None else state_z.to(q.dtype)
    states, norms = [], []
    for f in range(frames):  # phase B, forward: across chunk boundaries
        state, z = _step(state, z, decay[:, :, f], p[:, :, f], a[:, :, f], pz[:, :, f], az[:, :, f])
        states.append(state)
        norms.append(z)
    end = frames
    for size in reversed(chunks):  # phase B, backward: restarts in every chunk, sees strictly later frames
        back, back_z = torch.zeros_like(state), torch.zeros_like(z)
        for f in range(end - 1, end - size - 1, -1):
            states[f] = states[f] + back
            norms[f] = norms[f] + back_z
            back, back_z = _step(back, back_z, decay[:, :, f], p[:, :, f], a[:, :, f], pz[:, :, f], az[:, :, f])
        end -= size
    total = torch.stack(states, dim=2)  # (B, H, T, Dv, Dk)
    total_z = torch.stack(norms, dim=2)  # (B, H, T, Dk)
    num = q_rot @ total.transpose(-1, -2)  # phase C: (B, H, T, S, Dv)
    den = (q @ total_z[..., None])[..., 0]  # (B, H, T, S)
    return num / (den[..., None] + eps), state, z
