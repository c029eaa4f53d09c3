"""Building blocks of the LTX-2 video autoencoder with an explicit streaming cache.

Every temporal conv has kernel 3 in time and pads by concatenation, never inside ``nn.Conv3d``:
- causal: 2 copies of the first frame on the left;
- bidirectional: 1 copy of the first frame on the left and 1 of the last on the right;
- streaming (causal, chunk by chunk): the last 2 input frames of the previous chunk on the left, which makes
  a stream of chunks equal to one causal pass over the whole sequence.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class StreamCache:
    """Temporal context of one causal encoder or decoder stream (owned by the caller, not by the modules).

    Attributes:
        convs: per temporal conv, the last (kernel - 1) frames of its input so far, or None before the first chunk.
        started: per resampler, whether the stream's first chunk went through it (encoder: first-frame prefix
            added; decoder: first output frame trimmed).
        pending: per encoder temporal downsampler, input frames waiting for their pair.
    """

    def __init__(self, num_convs: int, num_resamplers: int) -> None:
        self.convs: list[Tensor | None] = [None] * num_convs
        self.started = [False] * num_resamplers
        self.pending: list[Tensor | None] = [None] * num_resamplers

    def nbytes(self) -> int:
        tensors = [t for t in (*self.convs, *self.pending) if t is not None]
        return sum(t.numel() * t.element_size() for t in tensors)

    def key(self) -> tuple:
        """Caches with equal keys are at the same point of their streams' chunk pattern and can be stacked."""
        return (
            tuple(self.started),
            tuple(None if p is None else p.shape[2] for p in self.pending),
            tuple(c is None for c in self.convs),
        )

    @classmethod
    def stack(cls, caches: list[StreamCache]) -> StreamCache:
        """One cache for a batch of streams (call :meth:`split_into` after the batched call)."""
        if len({c.key() for c in caches}) > 1:
            raise ValueError("stream caches at different points of their chunk pattern cannot be stacked")
        out = cls(len(caches[0].convs), len(caches[0].started))
        out.started = list(caches[0].started)
        for name in ("convs", "pending"):
            parts = zip(*(getattr(c, name) for c in caches), strict=True)
            setattr(out, name, [None if p[0] is None else torch.cat(p) for p in parts])
        return out

    def split_into(self, caches: list[StreamCache], sizes: list[int]) -> None:
        """Hand each stream its part of this batched cache."""
        for cache in caches:
            cache.started = list(self.started)
        for name in ("convs", "pending"):
            for slot, t in enumerate(getattr(self, name)):
                parts = [None] * len(caches) if t is None else t.split(sizes)
                for cache, part in zip(caches, parts, strict=True):
                    getattr(cache, name)[slot] = part


def rms_norm(x: Tensor, eps: float = 1e-8) -> Tensor:
    """Weight-free RMS normalisation over channels (dim 1) of (B, C, T, H, W)."""
    return x / torch.sqrt(torch.mean(x**2, dim=1, keepdim=True) + eps)


def norm_silu(x: Tensor) -> Tensor:
    """SiLU(RMS(x)): the activation before every conv of a resnet block and before the output conv."""
    return F.silu(rms_norm(x))


class CausalConv3d(nn.Module):
    """3 x 3 x 3 conv whose temporal padding is causal, symmetric, or taken from a stream cache."""

    def __init__(self, in_channels: int, out_channels: int, padding_mode: str, slot: int) -> None:
        super().__init__()
        self.slot = slot
        self.conv = nn.Conv3d(in_channels, out_channels, 3, padding=(0, 1, 1), padding_mode=padding_mode)

    def forward(self, x: Tensor, causal: bool, cache: StreamCache | None = None) -> Tensor:
        """x: (B, C, T, H, W) -> (B, C_out, T, H, W)."""
        if cache is not None:
            history = cache.convs[self.slot]
            if history is None:  # first chunk of the stream: the causal replicate padding
                history = x[:, :, :1].expand(-1, -1, 2, -1, -1)
            x = torch.cat([history.to(x.dtype), x], dim=2)
            cache.convs[self.slot] = x[:, :, -2:].clone()
        elif causal:
            x = torch.cat([x[:, :, :1], x[:, :, :1], x], dim=2)
        else:
            x = torch.cat([x[:, :, :1], x, x[:, :, -1:]], dim=2)
        return conv3d(self.conv, x)


def conv3d(conv: nn.Conv3d, x: Tensor) -> Tensor:
    """``conv(x)``; for float32 inference on the CPU, through oneDNN directly. PyTorch's own kernel choice sends
    many of the VAE's shapes (64 or 128 channels at 1/8 or 1/16 of the frame) to its reference conv3d, about 5x
    slower; called directly, oneDNN encodes and decodes a chunk about 25% faster (equal within float32
    rounding). Anything autograd must see, and other devices and dtypes, keep ``nn.Conv3d``."""
    fast = x.device.type == "cpu" and x.dtype == conv.weight.dtype == torch.float32 and conv.groups == 1
    fast = fast and torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
    needs_grad = torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in conv.parameters()))
    if not fast or needs_grad:
        return conv(x)
    padding = list(conv.padding)
    if conv.padding_mode != "zeros":
        x = F.pad(x, conv._reversed_padding_repeated_twice, mode=conv.padding_mode)
        padding = [0, 0, 0]
    return torch.ops.aten.mkldnn_convolution(x, conv.weight, conv.bias, padding, conv.stride, conv.dilation, 1)


class ResnetBlock(nn.Module):
    """x + conv2(SiLU(RMS(conv1(SiLU(RMS(x))))))."""

    def __init__(self, channels: int, padding_mode: str, slots: iter) -> None:
        super().__init__()
        self.conv1 = CausalConv3d(channels, channels, padding_mode, next(slots))
        self.conv2 = CausalConv3d(channels, channels, padding_mode, next(slots))

    def forward(self, x: Tensor, causal: bool, cache: StreamCache | None = None) -> Tensor:
        h = self.conv1(norm_silu(x), causal, cache)
        return x + self.conv2(norm_silu(h), causal, cache)


def space_to_depth(x: Tensor, stride: tuple[int, int, int]) -> Tensor:
    """(B, C, T*st, H*sh, W*sw) -> (B, C*st*sh*sw, T, H, W), channel ((c*st + t)*sh + h)*sw + w."""
    st, sh, sw = stride
    x = x.unflatten(4, (-1, sw)).unflatten(3, (-1, sh)).unflatten(2, (-1, st))
    return x.permute(0, 1, 3, 5, 7, 2, 4, 6).flatten(1, 4)


def depth_to_space(x: Tensor, stride: tuple[int, int, int]) -> Tensor:
    """Inverse of :func:`space_to_depth`."""
    st, sh, sw = stride
    batch, _, frames, height, width = x.shape
    x = x.reshape(batch, -1, st, sh, sw, frames, height, width)
    return x.permute(0, 1, 5, 2, 6, 3, 7, 4).reshape(batch, -1, frames * st, height * sh, width * sw)


class Downsampler(nn.Module):
    """Strided downsampling by a conv then space-to-depth, plus a grouped-mean space-to-depth residual.

    A temporal stride of 2 prefixes the stream with a copy of its first frame, so that video frame 0 alone
    makes the first latent frame; frames are then paired.
    """

    def __init__(self, in_channels: int, out_channels: int, stride, padding_mode: str, slot: int, index: int):
        super().__init__()
        self.stride = tuple(stride)
        self.index = index
        volume = self.stride[0] * self.stride[1] * self.stride[2]
        self.group_size = in_channels * volume // out_channels
        self.conv = CausalConv3d(in_channels, out_channels // volume, padding_mode, slot)

    def forward(self, x: Tensor, causal: bool, cache: StreamCache | None = None) -> Tensor:
        st = self.stride[0]
        if cache is None:
            x = torch.cat([x[:, :, : st - 1], x], dim=2)
        else:
            if not cache.started[self.index]:
                x = torch.cat([x[:, :, : st - 1], x], dim=2)
                cache.started[self.index] = True
            if cache.pending[self.index] is not None:
                x = torch.cat([cache.pending[self.index], x], dim=2)
            usable = x.shape[2] - x.shape[2] % st
            cache.pending[self.index] = x[:, :, usable:].clone() if usable < x.shape[2] else None
            x = x[:, :, :usable]
        residual = space_to_depth(x, self.stride).unflatten(1, (-1, self.group_size)).mean(dim=2)
        return space_to_depth(self.conv(x, causal, cache), self.stride) + residual


class Upsampler(nn.Module):
    """Conv then depth-to-space, plus (optionally) the input depth-to-spaced and tiled over channels.

    With a temporal stride of 2 the first output frame of a stream is dropped, so latent frame 0 gives one
    frame and every later latent frame gives ``stride_t`` frames.
    """

    def __init__(self, in_channels: int, stride, residual: bool, factor: int, padding_mode: str, slot: int, index: int):
        super().__init__()
        self.stride = tuple(stride)
        self.residual = residual
        self.index = index
        self.repeats = self.stride[0] * self.stride[1] * self.stride[2] // factor
        self.conv = CausalConv3d(in_channels, in_channels * self.repeats, padding_mode, slot)

    def forward(self, x: Tensor, causal: bool, cache: StreamCache | None = None) -> Tensor:
        out = depth_to_space(self.conv(x, causal, cache), self.stride)
        if self.residual:
            out = out + depth_to_space(x, self.stride).repeat(1, self.repeats, 1, 1, 1)
        trim = self.stride[0] - 1
        if cache is not None:
            trim = 0 if cache.started[self.index] else trim
            cache.started[self.index] = True
        return out[:, :, trim:]
