"""The LTX-2 VAE through diffusers (``AutoencoderKLLTX2Video``), for whole clips, with the official normalisation.

Streaming needs :class:`~sana_streaming.vae.autoencoder.VideoAutoencoder`, which loads the same weights.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from sana_streaming.models.checkpoint import CheckpointError


def _load_diffusers_vae(source: str | Path, subfolder: str | None, dtype: torch.dtype):
    try:
        from diffusers import AutoencoderKLLTX2Video
    except ImportError as err:
        raise CheckpointError(f"the diffusers VAE needs `pip install diffusers` ({err})") from None
    try:
        return AutoencoderKLLTX2Video.from_pretrained(
            str(source), subfolder=subfolder, torch_dtype=dtype, local_files_only=True
        )
    except (OSError, ValueError) as err:
        where = f"{source}" + (f" (subfolder {subfolder})" if subfolder else "")
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"cannot load the LTX-2 VAE from {where}: {message[:200]}") from None


class DiffusersLTX2VAE:
    """Whole-clip encode/decode with diffusers, in the DiT's normalised latent space.

    Args:
        source: a local folder in diffusers layout, or a repository id found in the local Hugging Face cache
            (e.g. "Lightricks/LTX-2" with ``subfolder="vae"``); nothing is downloaded.
    """

    def __init__(
        self, source: str | Path, *, subfolder: str | None = None, dtype: torch.dtype = torch.float32, device="cpu"
    ) -> None:
        self.vae = _load_diffusers_vae(source, subfolder, dtype).to(device).eval()
        self.scaling_factor = float(self.vae.config.scaling_factor)

    def _stats(self, like: Tensor) -> tuple[Tensor, Tensor]:
        return tuple(
            b.view(1, -1, 1, 1, 1).to(like.device, like.dtype) for b in (self.vae.latents_mean, self.vae.latents_std)
        )

    @torch.no_grad()
    def encode(self, video: Tensor) -> Tensor:
        """Video (B, 3, 1 + 8k, H, W) in [-1, 1] -> normalised latent (posterior mode)."""
        z = self.vae.encode(video.to(self.vae.dtype)).latent_dist.mode()
        mean, std = self._stats(z)
        return (z - mean) * self.scaling_factor / std

    @torch.no_grad()
    def decode(self, z: Tensor, *, causal: bool | None = None) -> Tensor:
        """Normalised latent -> video in [-1, 1] (not clamped)."""
        mean, std = self._stats(z)
        raw = z.to(self.vae.dtype) * std / self.scaling_factor + mean
        return self.vae.decode(raw, causal=causal).sample
