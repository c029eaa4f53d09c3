"""Fused frame-wise GDN in Triton: the three phases of README.md / chunkwise.py as three kernels.

- Phase A, one program per (batch, head, frame, summary, token split): a blocked reduction over a share of
  the frame's S tokens into one D x D float32 partial (P = K̂ᵀ diag(beta) K̂, A = Vᵀ diag(beta) K̂, or
  Pz = Kᵀ diag(beta) K with a = Kᵀ beta), with tensor-core dots on the input dtype. Splitting the tokens
  keeps every multiprocessor busy (a 720p chunk has only B x H x T = 60 frames of heads); the partials are
  summed in a fixed order before phase B (deterministic, no atomics).
- Phase B, one program per (batch, head, block of state rows), plus one for the normaliser: the recurrence
  over frames with the state rows on chip in float32 (D padded to a power of two, 128 for D = 112). Rows of
  S_f = alpha (S - S P) + A evolve independently, so the rows split across programs; the forward scan from
  the initial state, then the backward scan of every chunk added into the per-frame states, so the history
  is summed before phase C.
- Phase C, one program per (batch, head, frame, token block): numerator and denominator of every query
  against the summed state, divided, written in the output dtype straight into token-major (B, T, S, H, D)
  memory, so that merging the heads afterwards is a free view.

Forward only (inference). Tested against ``reference.py`` on the GPU (tests/ops/test_gdn_triton.py) and in
Triton's interpreter on the CPU.
"""

from __future__ import annotations

import itertools

import torch
import triton
import triton.language as tl
from torch import Tensor


@triton.jit
def _summaries_kernel(
    left_ptr,
    right_ptr,
    beta_ptr,
    out_ptr,
    vec_ptr,
    stride_lb,
    stride_lh,
    stride_lt,
    stride_ls,
    stride_rb,
    stride_rh,
    stride_rt,
    stride_rs,
    stride_bb,
    stride_bh,
    stride_bt,
    heads,
    frames,
    tokens,
    tokens_per_split,
    dim_left,
    dim_right,
    WITH_VECTOR: tl.constexpr,
    BLOCK_S: tl.constexpr,
    BLOCK_D: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """Partial ``split`` of out[b, h, f] = left_fᵀ diag(beta_f) right_f (and vec = left_fᵀ beta_f)."""
    pid = tl.program_id(0)
    split = tl.program_id(1)
    lead = tl.num_programs(0)
    f = pid % frames
    h = (pid // frames) % heads
    b = pid // (frames * heads)
    offs_d = tl.arange(0, BLOCK_D)
    acc = tl.zeros((BLOCK_D, BLOCK_D), dtype=tl.float32)
    vec = tl.zeros((BLOCK_D,), dtype=tl.float32)
    left_base = left_ptr + b * stride_lb + h * stride_lh + f * stride_lt
    right_base = right_ptr + b * stride_rb + h * stride_rh + f * stride_rt
    beta_base = beta_ptr + b * stride_bb + h * stride_bh + f * stride_bt
    first = split * tokens_per_split
    last = tl.minimum(first + tokens_per_split, tokens)
    for s0 in range(first, last, BLOCK_S):
        offs_s = s0 + tl.arange(0, BLOCK_S)
        rows_in = offs_s[:, None] < last  # masks built by comparison (indexing a boolean block trips the interpreter)
        left = tl.load(
            left_base + offs_s[:, None] * stride_ls + offs_d[None, :],
            mask=rows_in & (offs_d[None, :] < dim_left),
            other=0.0,
        )
        right = tl.load(
            right_base + offs_s[:, None] * stride_rs + offs_d[None, :],
            mask=rows_in & (offs_d[None, :] < dim_right),
            other=0.0,
        )
        beta = tl.load(beta_base + offs_s, mask=offs_s < last, other=0.0).to(tl.float32)
        weighted = (left.to(tl.float32) * beta[:, None]).to(left.dtype)
        acc += tl.dot(tl.trans(weighted), right, input_precision=PRECISION)
        if WITH_VECTOR:
            vec += tl.sum(weighted.to(tl.float32), axis=0)
    slot = split * lead + pid
    tl.store(out_ptr + (slot * BLOCK_D + offs_d[:, None]) * BLOCK_D + offs_d[None, :], acc)
    if WITH_VECTOR:
        tl.store(vec_ptr + slot * BLOCK_D + offs_d, vec)


@triton.jit
def _state_step(state, alpha, p_ptr, a_ptr, frame, offs_r, offs_d, BLOCK_D: tl.constexpr, PRECISION: tl.constexpr):
    """One frame of S_f = alpha (S - S P) + A on a block of state rows (BLOCK_R, D)."""
    p = tl.load(p_ptr + frame * BLOCK_D * BLOCK_D + offs_d[:, None] * BLOCK_D + offs_d[None, :])
    a = tl.load(a_ptr + frame * BLOCK_D * BLOCK_D + offs_r[:, None] * BLOCK_D + offs_d[None, :])
    return alpha * (state - tl.dot(state, p, input_precision=PRECISION)) + a


@triton.jit
def _norm_step(z, alpha, pz_ptr, az_ptr, frame, offs_d, BLOCK_D: tl.constexpr):
    """One frame of z_f = alpha (z - Pz z) + a on the normaliser (D,)."""
    pz = tl.load(pz_ptr + frame * BLOCK_D * BLOCK_D + offs_d[:, None] * BLOCK_D + offs_d[None, :])
    az = tl.load(az_ptr + frame * BLOCK_D + offs_d)
    return alpha * (z - tl.sum(pz * z[None, :], axis=1)) + az


@triton.jit
def _scan_kernel(
    p_ptr,
    a_ptr,
    pz_ptr,
    az_ptr,
    decay_ptr,
    chunk_ptr,
    init_ptr,
    init_z_ptr,
    hist_ptr,
    hist_z_ptr,
    final_ptr,
    final_z_ptr,
    frames,
    num_chunks,
    BLOCK_D: tl.constexpr,
    BLOCK_R: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """Per (batch, head, row block): the forward scan (stored per frame), then each chunk's backward scan added
    in. The last program of every (batch, head) runs the normaliser's scan instead of a row block."""
    bh = tl.program_id(0)
    offs_d = tl.arange(0, BLOCK_D)
    if tl.program_id(1) == tl.num_programs(1) - 1:  # the normaliser z (D,)
        z = tl.load(init_z_ptr + bh * BLOCK_D + offs_d)
        for f in range(frames):
            frame = bh * frames + f
            z = _norm_step(z, tl.load(decay_ptr + frame), pz_ptr, az_ptr, frame, offs_d, BLOCK_D)
            tl.store(hist_z_ptr + frame * BLOCK_D + offs_d, z)
        tl.store(final_z_ptr + bh * BLOCK_D + offs_d, z)
        for c in range(num_chunks):
            start = tl.load(chunk_ptr + c)
            end = tl.load(chunk_ptr + c + 1)
            back_z = tl.zeros((BLOCK_D,), dtype=tl.float32)
            for i in range(end - start):
                frame = bh * frames + end - 1 - i
                hist_z = hist_z_ptr + frame * BLOCK_D + offs_d
                tl.store(hist_z, tl.load(hist_z) + back_z)
                back_z = _norm_step(back_z, tl.load(decay_ptr + frame), pz_ptr, az_ptr, frame, offs_d, BLOCK_D)
    else:  # a block of rows of the numerator state S (Dv, Dk)
        offs_r = tl.program_id(1) * BLOCK_R + tl.arange(0, BLOCK_R)
        rows = offs_r[:, None] * BLOCK_D + offs_d[None, :]
        state = tl.load(init_ptr + bh * BLOCK_D * BLOCK_D + rows)
        for f in range(frames):
            frame = bh * frames + f
            alpha = tl.load(decay_ptr + frame)
            state = _state_step(state, alpha, p_ptr, a_ptr, frame, offs_r, offs_d, BLOCK_D, PRECISION)
            tl.store(hist_ptr + frame * BLOCK_D * BLOCK_D + rows, state)
        tl.store(final_ptr + bh * BLOCK_D * BLOCK_D + rows, state)
        for c in range(num_chunks):
            start = tl.load(chunk_ptr + c)
            end = tl.load(chunk_ptr + c + 1)
            back = tl.zeros((BLOCK_R, BLOCK_D), dtype=tl.float32)
            for i in range(end - start):
                frame = bh * frames + end - 1 - i
                hist = hist_ptr + frame * BLOCK_D * BLOCK_D + rows
                tl.store(hist, tl.load(hist) + back)
                alpha = tl.load(decay_ptr + frame)
                back = _state_step(back, alpha, p_ptr, a_ptr, frame, offs_r, offs_d, BLOCK_D, PRECISION)


@triton.jit
def _output_kernel(
    q_ptr,
    qr_ptr,
    hist_ptr,
    hist_z_ptr,
    out_ptr,
    stride_qb,
    stride_qh,
    stride_qt,
    stride_qs,
    stride_rb,
    stride_rh,
    stride_rt,
    stride_rs,
    heads,
    frames,
    tokens,
    dim_k,
    dim_v,
    eps,
    BLOCK_S: tl.constexpr,
    BLOCK_D: tl.constexpr,
    PRECISION: tl.constexpr,
):
    """out[b, f, s, h] = (q̂ · M_fᵀ) / (q · m_f + eps) for a block of tokens of one frame; out is (B, T, S, H, Dv)."""
    pid = tl.program_id(0)
    block = tl.program_id(1)
    f = pid % frames
    h = (pid // frames) % heads
    b = pid // (frames * heads)
    offs_s = block * BLOCK_S + tl.arange(0, BLOCK_S)
    offs_d = tl.arange(0, BLOCK_D)
    rows_in = offs_s[:, None] < tokens
    q_offs = b * stride_qb + h * stride_qh + f * stride_qt + offs_s[:, None] * stride_qs + offs_d[None, :]
    r_offs = b * stride_rb + h * stride_rh + f * stride_rt + offs_s[:, None] * stride_rs + offs_d[None, :]
    k_mask = rows_in & (offs_d[None, :] < dim_k)
    q = tl.load(q_ptr + q_offs, mask=k_mask, other=0.0).to(tl.float32)
    qr = tl.load(qr_ptr + r_offs, mask=k_mask, other=0.0).to(tl.float32)
    hist = tl.load(hist_ptr + pid * BLOCK_D * BLOCK_D + offs_d[:, None] * BLOCK_D + offs_d[None, :])  # (Dv, Dk)
    m = tl.load(hist_z_ptr + pid * BLOCK_D + offs_d)
    num = tl.dot(qr, tl.trans(hist), input_precision=PRECISION)  # (BLOCK_S, Dv)
    den = tl.sum(q * m[None, :], axis=1)
    out = num / (den[:, None] + eps)
    token = (b * frames + f) * tokens + offs_s[:, None]
    out_offs = (token * heads + h) * dim_v + offs_d[None, :]
    tl.store(out_ptr + out_offs, out.to(out_ptr.dtype.element_ty), mask=rows_in & (offs_d[None, :] < dim_v))


def _pad_square(x: Tensor | None, lead: tuple[int, int], d_rows: int, d_cols: int, block: int, device) -> Tensor:
    out = torch.zeros(*lead, block, block, device=device, dtype=torch.float32)
    if x is not None:
        out[..., :d_rows, :d_cols] = x.float()
    return out


def _splits(programs: int, tokens: int, block_s: int) -> int:
    """Token splits of phase A: enough programs to fill about 2 waves of a large GPU, each >= 2 token blocks."""
    return max(1, min(8, -(-264 // programs), tokens // (2 * block_s)))


def gdn_triton(
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
    block_s: int = 64,
    block_rows: int = 32,
    splits: int | None = None,
    scan_precision: str = "ieee",
    out_dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor, Tensor]:
    """Same arguments and results as :func:`sana_streaming.ops.gdn.reference.gdn_bidirectional`.

    q, k, v, q_rot, k_rot may be float32 or bfloat16 with any strides whose last (D) stride is 1. The output
    (B, H, T, S, Dv), in ``out_dtype``, is a view of token-major (B, T, S, H, Dv) memory.

    Tuning (results do not depend on them beyond float rounding): ``block_s`` tokens per tile in phases A
    and C, ``block_rows`` state rows per program in phase B (16 or more), ``splits`` token splits in phase
    A (None: enough programs for about two waves of a large GPU), ``scan_precision`` of the state products
    in phase B ("ieee" float32, or "tf32x3": three TF32 tensor-core passes, near float32).

    Under ``torch.compile`` the call is one opaque operator (``sana_streaming::gdn_triton``): the compiler
    neither traces nor re-specialises the kernels (inside a compiled block it had made the output pass 3x
    slower), it only knows the output shapes.
    """
    frames = q.shape[2]
    chunks = tuple(chunks or (frames,))
    if sum(chunks) != frames:
        raise ValueError(f"chunk sizes {chunks} do not add up to {frames} frames")
    return _gdn_op(
        q,
        k,
        v,
        q_rot,
        k_rot,
        beta,
        decay,
        state_kv,
        state_z,
        list(chunks),
        float(eps),
        int(block_s),
        int(block_rows),
        int(splits or 0),
        scan_precision,
        out_dtype,
    )


@torch.library.custom_op("sana_streaming::gdn_triton", mutates_args=())
def _gdn_op(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    q_rot: Tensor,
    k_rot: Tensor,
    beta: Tensor,
    decay: Tensor,
    state_kv: Tensor | None,
    state_z: Tensor | None,
    chunks: list[int],
    eps: float,
    block_s: int,
    block_rows: int,
    splits: int,
    scan_precision: str,
    out_dtype: torch.dtype,
) -> tuple[Tensor, Tensor, Tensor]:
    """The three kernels; one opaque operator to ``torch.compile`` (see :func:`gdn_triton`)."""
    batch, heads, frames, tokens, dk = q.shape
    dv = v.shape[-1]
    block_d = max(16, triton.next_power_of_2(max(dk, dv)))
    block_r = min(max(16, block_rows), block_d)
    precision = "ieee" if q.dtype == torch.float32 else "tf32"  # fp32 inputs keep fp32 products
    device = q.device
    q, k, v, q_rot, k_rot = (t if t.stride(-1) == 1 else t.contiguous() for t in (q, k, v, q_rot, k_rot))
    beta = beta.float().contiguous()
    lead = batch * heads * frames
    splits = splits or _splits(lead, tokens, block_s)
    per_split = triton.cdiv(triton.cdiv(tokens, splits), block_s) * block_s
    splits = triton.cdiv(tokens, per_split)
    p, a, pz = (torch.empty(splits * lead, block_d, block_d, device=device) for _ in range(3))
    az = torch.empty(splits * lead, block_d, device=device)
    for out, left, right, vec in ((p, k_rot, k_rot, None), (a, v, k_rot, None), (pz, k, k, az)):
        _summaries_kernel[(lead, splits)](
            left,
            right,
            beta,
            out,
            vec if vec is not None else out,
            *left.stride()[:4],
            *right.stride()[:4],
            *beta.stride()[:3],
            heads,
            frames,
            tokens,
            per_split,
            left.shape[-1],
            right.shape[-1],
            WITH_VECTOR=vec is not None,
            BLOCK_S=block_s,
            BLOCK_D=block_d,
            PRECISION=precision,
            num_warps=8,
        )
    if splits > 1:  # fixed-order sum of the partials (deterministic)
        p, a, pz = (t.view(splits, lead, block_d, block_d).sum(0) for t in (p, a, pz))
        az = az.view(splits, lead, block_d).sum(0)
    init = _pad_square(state_kv, (batch, heads), dv, dk, block_d, device)
    init_z = torch.zeros(batch, heads, block_d, device=device)
    if state_z is not None:
        init_z[..., :dk] = state_z.float()
    hist = torch.empty(lead, block_d, block_d, device=device)
    hist_z = torch.empty(lead, block_d, device=device)
    final, final_z = torch.empty_like(init), torch.empty_like(init_z)
    bounds = torch.zeros(len(chunks) + 1, dtype=torch.int32, device=device)
    for i, end in enumerate(itertools.accumulate(chunks), start=1):
        bounds[i].fill_(end)  # a fill kernel from a Python int: no host-to-device copy, so CUDA graphs can hold it
    _scan_kernel[(batch * heads, block_d // block_r + 1)](
        p,
        a,
        pz,
        az,
        decay.float().contiguous(),
        bounds,
        init,
        init_z,
        hist,
        hist_z,
        final,
        final_z,
        frames,
        len(chunks),
        BLOCK_D=block_d,
        BLOCK_R=block_r,
        PRECISION=scan_precision,
        num_warps=4,
        num_stages=1,  # no prefetch across frames: the loads are D x D float32 tiles
    )
    out = torch.empty(batch, frames, tokens, heads, dv, device=device, dtype=out_dtype)
    _output_kernel[(lead, triton.cdiv(tokens, block_s))](
        q,
        q_rot,
        hist,
        hist_z,
        out,
        *q.stride()[:4],
        *q_rot.stride()[:4],
        heads,
        frames,
        tokens,
        dk,
        dv,
        eps,
        BLOCK_S=block_s,
        BLOCK_D=block_d,
        PRECISION=precision,
    )
    return out.permute(0, 3, 1, 2, 4), final[..., :dv, :dk].contiguous(), final_z[..., :dk].contiguous()


@_gdn_op.register_fake
def _(
    q,
    k,
    v,
    q_rot,
    k_rot,
    beta,
    decay,
    state_kv,
    state_z,
    chunks,
    eps,
    block_s,
    block_rows,
    splits,
    scan_precision,
    out_dtype,
):
    batch, heads, frames, tokens, dk = q.shape
    dv = v.shape[-1]
    out = q.new_empty(batch, frames, tokens, heads, dv, dtype=out_dtype).permute(0, 3, 1, 2, 4)
    return (
        out,
        q.new_empty(batch, heads, dv, dk, dtype=torch.float32),
        q.new_empty(batch, heads, dk, dtype=torch.float32),
    )
