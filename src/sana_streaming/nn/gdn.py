"""Frame-wise Gated DeltaNet self-attention (bidirectional within a chunk, state-cached across chunks)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sana_streaming.nn.linear import TapLinear
from sana_streaming.nn.norm import RMSNorm
from sana_streaming.nn.rope import apply_rope
from sana_streaming.ops.gdn.chunkwise import gdn_chunkwise
from sana_streaming.ops.gdn.reference import gdn_bidirectional


def _fused_triton(*args, **kwargs):
    from sana_streaming.ops.gdn.triton_kernel import gdn_triton  # imports Triton: only when asked for

    return gdn_triton(*args, **kwargs)


def _output_in(recurrence):
    """A float32 recurrence whose output is returned in ``out_dtype`` (the Triton kernel writes it so itself)."""

    def run(*args, out_dtype: torch.dtype = torch.float32, **kwargs):
        out, state_kv, state_z = recurrence(*args, **kwargs)
        return out.to(out_dtype), state_kv, state_z

    return run


# Implementations of the bidirectional recurrence, same arguments and results (see ops/gdn).
GDN_BACKENDS = {
    "reference": _output_in(gdn_bidirectional),
    "chunkwise": _output_in(gdn_chunkwise),
    "triton": _fused_triton,
}


def set_gdn_backend(model: nn.Module, name: str) -> None:
    """Choose the GDN implementation of every GDN block of ``model`` (applied from outside the model)."""
    if name not in GDN_BACKENDS:
        raise ValueError(f"unknown GDN backend {name!r}; choose one of: {', '.join(GDN_BACKENDS)}")
    for module in model.modules():
        if isinstance(module, GatedDeltaNetAttention):
            module.backend = name


@dataclass
class GDNFeatures:
    """Inputs of the GDN recurrence, float32, layout (B, H, T, S, D); see ops/gdn/README.md."""

    q: Tensor
    k: Tensor
    v: Tensor
    q_rot: Tensor
    k_rot: Tensor
    beta: Tensor  # (B, H, T, S)
    decay: Tensor  # (B, H, T)

    def as_args(self) -> tuple[Tensor, ...]:
        return self.q, self.k, self.v, self.q_rot, self.k_rot, self.beta, self.decay


class GatedDeltaNetAttention(nn.Module):
    """Frame-wise GDN with ReLU features, RoPE on the numerator path only, and an output gate.

    Parameter names follow the official checkpoints (``q``, ``k``, ``v``, ``q_norm``, ``k_norm``,
    ``beta_proj``, ``gate_proj``, ``A_log``, ``dt_bias``, ``output_gate``, ``proj``).
    """

    backend = "chunkwise"  # see set_gdn_backend

    def __init__(self, dim: int, head_dim: int, *, qk_norm: bool = True, norm_eps: float = 1e-5, eps: float = 1e-8):
        super().__init__()
        self.heads = dim // head_dim
        self.head_dim = head_dim
        self.eps = eps
        self.q = TapLinear(dim, dim, taps=1)
        self.k = TapLinear(dim, dim, taps=1)
        self.v = nn.Linear(dim, dim, bias=False)
        self.q_norm = RMSNorm(dim, eps=norm_eps) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(dim, eps=norm_eps) if qk_norm else nn.Identity()
        self.beta_proj = nn.Linear(dim, self.heads)
        self.gate_proj = nn.Linear(dim, self.heads)
        self.A_log = nn.Parameter(torch.zeros(self.heads))
        self.dt_bias = nn.Parameter(torch.zeros(self.heads))
        self.output_gate = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def _heads(self, x: Tensor, frames: int) -> Tensor:
        """(B, N, C) -> (B, H, T, S, D); float32 unless the fused kernel takes the model dtype directly."""
        batch, tokens, _ = x.shape
        x = x if self.backend == "triton" else x.float()
        return x.view(batch, frames, tokens // frames, self.heads, self.head_dim).permute(0, 3, 1, 2, 4)

    def features(self, x: Tensor, frames: int, rope: tuple[Tensor, Tensor]) -> GDNFeatures:
        """Project tokens (B, N, C), N = frames * S, into the recurrence inputs."""
        batch, tokens, _ = x.shape
        spatial = tokens // frames
        k_scale = (self.head_dim * spatial) ** -0.5  # keeps the rank-S per-frame update stable
        q = F.relu(self.q_norm(self.q(x)))
        k = F.relu(self.k_norm(self.k(x))) * k_scale
        q, k, v = self._heads(q, frames), self._heads(k, frames), self._heads(self.v(x), frames)
        rope_5d = tuple(t.view(*t.shape[:-2], frames, spatial, -1) for t in rope)  # (T, S, D/2) or (B, 1, T, S, D/2)
        beta = torch.sigmoid(self.beta_proj(x)).float().view(batch, frames, spatial, self.heads).permute(0, 3, 1, 2)
        frame_mean = x.view(batch, frames, spatial, -1).mean(dim=2)
        rate = F.softplus(self.gate_proj(frame_mean).float() + self.dt_bias.float())
        decay = torch.exp(-self.A_log.float().exp() * rate).transpose(1, 2)  # (B, H, T)
        return GDNFeatures(q, k, v, apply_rope(q, rope_5d), apply_rope(k, rope_5d), beta, decay)

    def forward(
        self,
        x: Tensor,
        frames: int,
        rope: tuple[Tensor, Tensor],
        *,
        chunks: tuple[int, ...] | None = None,
        state_kv: Tensor | None = None,
        state_z: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Args:
            x: tokens (B, N, C), frame-major.
            frames: T, the number of frames in ``x``.
            rope: (cos, sin) of the tokens, each (N, D // 2), at their absolute frame positions.
            chunks: frames per chunk (backward scans stay inside a chunk); None = one chunk.
            state_kv, state_z: forward-scan state carried from earlier chunks, (B, H, D, D) and (B, H, D).

        Returns:
            output (B, N, C) and the final forward-scan state (state_kv, state_z), float32.
        """
        batch, tokens, channels = x.shape
        feats = self.features(x, frames, rope)
        out, state_kv, state_z = GDN_BACKENDS[self.backend](
            *feats.as_args(), chunks=chunks, state_kv=state_kv, state_z=state_z, eps=self.eps, out_dtype=x.dtype
        )
        out = out.permute(0, 2, 3, 1, 4).reshape(batch, tokens, channels)
        out = out * F.silu(self.output_gate(x).float()).to(x.dtype)
        return self.proj(out), state_kv, state_z
