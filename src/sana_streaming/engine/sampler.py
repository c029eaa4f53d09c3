"""The streaming sampler: denoises a stream one chunk at a time with an explicit :class:`StreamState`.

Per chunk (as the official sampler): Euler steps at t = 1000, 961, 893, 743 from noise, each call given
the chunk's source latents; then one pass at t = 0 on the denoised chunk that alone writes the caches for
the next chunk. With ``efficient_cache`` the last denoising call writes the caches instead (one pass less).
Driving it chunk by chunk keeps memory constant for an endless stream.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from sana_streaming.diffusion.flow import STREAMING_TIMESTEPS, chunk_boundaries, euler_step, sigmas_for
from sana_streaming.models.state import CacheWindow, StreamState
from sana_streaming.models.transformer import SanaStreamingTransformer, TextCondition


@dataclass(frozen=True)
class SamplerConfig:
    """Settings of the streaming sampler (defaults = the official inference script).

    Attributes:
        timesteps: denoising timesteps on the 0..1000 scale.
        chunk_frames: latent frames per chunk after the first (24 video frames with the LTX-2 VAE).
        window: softmax cache window.
        efficient_cache: write the caches during the last denoising step instead of a t = 0 refresh pass.
    """

    timesteps: tuple[int, ...] = STREAMING_TIMESTEPS
    chunk_frames: int = 3
    window: CacheWindow = field(default_factory=CacheWindow)
    efficient_cache: bool = False


class StreamingSampler:
    """Runs the streaming denoising loop of a :class:`SanaStreamingTransformer`."""

    def __init__(self, model: SanaStreamingTransformer, config: SamplerConfig | None = None) -> None:
        self.model = model
        self.config = config or SamplerConfig()
        self.sigmas = sigmas_for(self.config.timesteps)

    def init_state(
        self, batch_size: int, latent_size: tuple[int, int], first_chunk_frames: int, device=None
    ) -> StreamState:
        """Fresh caches for a stream whose first chunk has ``first_chunk_frames`` latent frames."""
        return self.model.init_state(
            batch_size, latent_size, first_chunk_frames, self.config.chunk_frames, self.config.window, device
        )

    @torch.no_grad()
    def denoise_chunk(
        self, noise: Tensor, source: Tensor, text: TextCondition, state: StreamState, *, write_cache: bool = True
    ) -> Tensor:
        """Denoise the next chunk of the stream.

        Args:
            noise: (B, C, T, H, W) Gaussian noise of this chunk.
            source: (B, C_src, T, H, W) source latents of this chunk.
            text: the prompt for this chunk (it may change between chunks).
            state: the stream's caches; advanced past this chunk when ``write_cache``.
            write_cache: False only for the last chunk of a finite clip (no refresh pass is needed).

        Returns:
            the denoised latents (B, C, T, H, W), float32.
        """
        x = noise.float()
        sigmas = self.sigmas.to(x.device)
        last = len(self.config.timesteps) - 1
        for i, t in enumerate(self.config.timesteps):
            write_now = write_cache and self.config.efficient_cache and i == last
            timestep = torch.full((x.shape[0],), float(t), device=x.device)
            velocity, _ = self.model.forward_chunk(x, source, timestep, text, state, write_cache=write_now)
            x = euler_step(x, velocity, sigmas[i], sigmas[i + 1])
        if write_cache and not self.config.efficient_cache:
            self.model.forward_chunk(x, source, torch.zeros(x.shape[0], device=x.device), text, state, write_cache=True)
        return x

    def sample(self, noise: Tensor, source: Tensor, text: TextCondition | Sequence[TextCondition]) -> Tensor:
        """Edit a whole clip of latents chunk by chunk (the official chunking: the first chunk takes the remainder).

        Args:
            noise: (B, C, T, H, W).
            source: (B, C_src, T, H, W).
            text: one prompt for every chunk, or one per chunk.

        Returns:
            (B, C, T, H, W) float32.
        """
        bounds = chunk_boundaries(noise.shape[2], self.config.chunk_frames)
        texts = [text] * (len(bounds) - 1) if isinstance(text, TextCondition) else list(text)
        if len(texts) != len(bounds) - 1:
            raise ValueError(f"got {len(texts)} prompts for {len(bounds) - 1} chunks")
        state = self.init_state(noise.shape[0], tuple(noise.shape[-2:]), bounds[1], device=noise.device)
        out = []
        for c, (a, b) in enumerate(itertools.pairwise(bounds)):
            last = c == len(bounds) - 2
            out.append(self.denoise_chunk(noise[:, :, a:b], source[:, :, a:b], texts[c], state, write_cache=not last))
        return torch.cat(out, dim=2)
