"""Plain PyTorch reference of the frame-wise Gated DeltaNet recurrence (a loop over frames).

The math is written out in this folder's README. Every faster implementation of the op is tested
against these functions.

Layout used throughout: ``(B, H, T, S, D)``: batch, heads, frames, spatial tokens per frame, head dim.
"""

from __future__ import annotations

import torch
from torch import Tensor


def gdn_recurrence(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    q_rot: Tensor,
    k_rot: Tensor,
    beta: Tensor,
    decay: Tensor,
    state_kv: Tensor | None = None,
    state_z: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Forward scan of the frame-wise GDN over ``T`` frames, starting from an optional state.

    Args:
        q, k: unrotated (ReLU) features, (B, H, T, S, Dk); ``k`` already carries its 1/sqrt(Dk*S) scale.
        v: values, (B, H, T, S, Dv).
        q_rot, k_rot: the rotated (RoPE) features, same shape as ``q``/``k``.
        beta: per-token write gate, (B, H, T, S).
        decay: per-frame decay alpha, (B, H, T).
        state_kv: initial numerator state, (B, H, Dv, Dk); zeros when None.
        state_z: initial normaliser state, (B, H, Dk); zeros when None.

    Returns:
        num (B, H, T, S, Dv), den (B, H, T, S), and the final ``state_kv`` and ``state_z``.
        All in the dtype of ``q`` (use float32).
    """
    batch, heads, frames, _, dk = q.shape
    dv = v.shape[-1]
    if state_kv is None:
        state_kv = q.new_zeros(batch, heads, dv, dk)
    if state_z is None:
        state_z = q.new_zeros(batch, heads, dk)
    nums, dens = [], []
    for f in range(frames):
        alpha = decay[:, :, f]
        state_kv = state_kv * alpha[..., None, None]
        state_z = state_z * alpha[..., None]
        k_rot_f, k_f, beta_f = k_rot[:, :, f], k[:, :, f], beta[:, :, f]
        v_pred = torch.einsum("bhsd,bhed->bhse", k_rot_f, state_kv)
        delta_v = (v[:, :, f] - v_pred) * beta_f[..., None]
        state_kv = state_kv + torch.einsum("bhse,bhsd->bhed", delta_v, k_rot_f)
        z_pred = torch.einsum("bhsd,bhd->bhs", k_f, state_z)
        delta_z = (1.0 - z_pred) * beta_f
        state_z = state_z + torch.einsum("bhs,bhsd->bhd", delta_z, k_f)
        nums.append(torch.einsum("bhsd,bhed->bhse", q_rot[:, :, f], state_kv))
        dens.append(torch.einsum("bhsd,bhd->bhs", q[:, :, f], state_z))
    return torch.stack(nums, dim=2), torch.stack(dens, dim=2), state_kv, state_z


def reverse_shifted(x: Tensor, fill: float) -> Tensor:
    """Reverse the frame axis (dim 2) and shift it by one: slot 0 is ``fill``, slot r holds frame T - r.

    This is the input of the backward scan: reversed frame r only sees frames strictly after it.
    """
    flipped = torch.flip(x, dims=[2])
    pad = torch.full_like(flipped[:, :, :1], fill)
    return torch.cat([pad, flipped[:, :, :-1]], dim=2)


def backward_scan_inputs(
    q: Tensor, k: Tensor, v: Tensor, q_rot: Tensor, k_rot: Tensor, beta: Tensor, decay: Tensor
) -> tuple[Tensor, ...]:
    """Inputs of the backward scan in the order of :func:`gdn_recurrence` (queries reversed, the rest shifted)."""
    return (
        torch.flip(q, dims=[2]),
        reverse_shifted(k, 0.0),
        reverse_shifted(v, 0.0),
        torch.flip(q_rot, dims=[2]),
        reverse_shifted(k_rot, 0.0),
        reverse_shifted(beta, 0.0),
        reverse_shifted(decay, 1.0),
    )


def gdn_bidirectional(
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
    """Bidirectional GDN: a forward scan over all frames plus a backward scan inside each chunk.

    The forward scan starts from ``state_kv``/``state_z`` and runs across chunk boundaries; the backward
    scan restarts from zero in every chunk. Numerators and denominators of both scans are summed before
    the division. ``chunks=None`` means a single chunk (the bidirectional model and one streaming chunk).

    Returns:
        out (B, H, T, S, Dv) and the forward scan's final ``state_kv`` (B, H, Dv, Dk), ``state_z`` (B, H, Dk).
    """
    num, den, state_kv, state_z = gdn_recurrence(q, k, v, q_rot, k_rot, beta, decay, state_kv, state_z)
    frames = q.shape[2]
    chunks = chunks or (frames,)
    start = 0
    num_bwd, den_bwd = [], []
    for size in chunks:
        part = [t[:, :, start : start + size] for t in (q, k, v, q_rot, k_rot, beta, decay)]
        n_b, d_b, _, _ = gdn_recurrence(*backward_scan_inputs(*part))
        num_bwd.append(torch.flip(n_b, dims=[2]))
        den_bwd.append(torch.flip(d_b, dims=[2]))
        start += size
    if start != frames:
        raise ValueError(f"chunk sizes {chunks} do not add up to {frames} frames")
    num = num + torch.cat(num_bwd, dim=2)
    den = den + torch.cat(den_bwd, dim=2)
    return num / (den[..., None] + eps), state_kv, state_z
