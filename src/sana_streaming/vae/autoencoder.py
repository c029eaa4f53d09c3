"""The LTX-2 video autoencoder (32x spatial / 8x temporal at full size), our own implementation.

It loads diffusers ``AutoencoderKLLTX2Video`` and official ``AutoencoderKLCausalLTX2Video`` weights as they are
(identical key names) and runs three ways: a whole clip causally, a whole clip bidirectionally, or a stream of
chunks with an explicit :class:`StreamCache` whose output equals the whole-clip causal pass. A clip of
1 + 8k frames has 1 + k latent frames: frame 0 alone makes latent 0, each later latent covers 8 frames.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import torch
from torch import Tensor, nn

from sana_streaming.models.checkpoint import CheckpointError, build_with_weights, read_state_dict, save_folder
from sana_streaming.vae.config import _DOWN, VAEConfig
from sana_streaming.vae.layers import CausalConv3d, Downsampler, ResnetBlock, StreamCache, Upsampler, norm_silu


class DownBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, layers: int, kind: str, padding: str, slots, index: int) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(ResnetBlock(in_ch, padding, slots) for _ in range(layers))
        self.downsamplers = nn.ModuleList([Downsampler(in_ch, out_ch, _DOWN[kind], padding, next(slots), index)])

    def forward(self, x: Tensor, causal: bool, cache: StreamCache | None) -> Tensor:
        for resnet in self.resnets:
            x = resnet(x, causal, cache)
        return self.downsamplers[0](x, causal, cache)


class UpBlock(nn.Module):
    def __init__(
        self, channels: int, layers: int, kind: str, residual: bool, factor: int, padding: str, slots, index: int
    ) -> None:
        super().__init__()
        up = Upsampler(channels * factor, _DOWN[kind], residual, factor, padding, next(slots), index)
        self.upsamplers = nn.ModuleList([up])
        self.resnets = nn.ModuleList(ResnetBlock(channels, padding, slots) for _ in range(layers))

    def forward(self, x: Tensor, causal: bool, cache: StreamCache | None) -> Tensor:
        x = self.upsamplers[0](x, causal, cache)
        for resnet in self.resnets:
            x = resnet(x, causal, cache)
        return x


class MidBlock(nn.Module):
    def __init__(self, channels: int, layers: int, padding: str, slots) -> None:
        super().__init__()
        self.resnets = nn.ModuleList(ResnetBlock(channels, padding, slots) for _ in range(layers))

    def forward(self, x: Tensor, causal: bool, cache: StreamCache | None) -> Tensor:
        for resnet in self.resnets:
            x = resnet(x, causal, cache)
        return x


class Encoder(nn.Module):
    """Video (B, 3, T, H, W) in [-1, 1] -> posterior parameters (B, 2 * latent, T', H', W')."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        slots = itertools.count()
        pad, p = cfg.encoder_padding, cfg.patch_size
        self.patch_size = p
        self.latent_channels = cfg.latent_channels
        stem = cfg.encoder_stem_channels or cfg.latent_channels
        self.conv_in = CausalConv3d(cfg.in_channels * p * p, stem, pad, next(slots))
        widths = (stem, *cfg.block_out_channels)
        self.down_blocks = nn.ModuleList(
            DownBlock(widths[i], widths[i + 1], cfg.layers_per_block[i], cfg.downsample_type[i], pad, slots, i)
            for i in range(len(cfg.block_out_channels))
        )
        self.mid_block = MidBlock(widths[-1], cfg.layers_per_block[-1], pad, slots)
        self.conv_out = CausalConv3d(widths[-1], cfg.latent_channels + 1, pad, next(slots))
        self.num_slots = next(slots)

    def forward(self, video: Tensor, causal: bool, cache: StreamCache | None = None) -> Tensor:
        p = self.patch_size
        batch, channels, frames, height, width = video.shape
        x = video.reshape(batch, channels, frames, 1, height // p, p, width // p, p)
        x = x.permute(0, 1, 3, 7, 5, 2, 4, 6).flatten(1, 4)  # channel ((c*1 + t)*p + w)*p + h: W before H
        x = self.conv_in(x, causal, cache)
        for block in self.down_blocks:
            x = block(x, causal, cache)
        x = self.mid_block(x, causal, cache)
        x = self.conv_out(norm_silu(x), causal, cache)
        logvar = x[:, -1:].expand(-1, self.latent_channels, -1, -1, -1)
        return torch.cat([x[:, : self.latent_channels], logvar], dim=1)


class Decoder(nn.Module):
    """Raw latent (B, latent, T', H', W') -> video (B, 3, T, H, W)."""

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        slots = itertools.count()
        pad, p = cfg.decoder_padding, cfg.patch_size
        self.patch_size = p
        widths = tuple(reversed(cfg.decoder_block_out_channels))
        factors = tuple(reversed(cfg.upsample_factor))
        residual = tuple(reversed(cfg.upsample_residual))
        layers = tuple(reversed(cfg.decoder_layers_per_block))
        self.conv_in = CausalConv3d(cfg.latent_channels, widths[0], pad, next(slots))
        self.mid_block = MidBlock(widths[0], layers[0], pad, slots)
        channels, blocks = widths[0], []
        for i, width in enumerate(widths):
            if channels // factors[i] != width // factors[i]:
                raise ValueError("decoder widths that need an up-block input resnet are not supported")
            channels = width // factors[i]
            blocks.append(
                UpBlock(channels, layers[i + 1], cfg.upsample_type[i], residual[i], factors[i], pad, slots, i)
            )
        self.up_blocks = nn.ModuleList(blocks)
        self.conv_out = CausalConv3d(channels, cfg.in_channels * p * p, pad, next(slots))
        self.num_slots = next(slots)

    def forward(self, z: Tensor, causal: bool, cache: StreamCache | None = None) -> Tensor:
        x = self.conv_in(z, causal, cache)
        x = self.mid_block(x, causal, cache)
        for block in self.up_blocks:
            x = block(x, causal, cache)
        x = self.conv_out(norm_silu(x), causal, cache)
        p = self.patch_size
        batch, _, frames, height, width = x.shape
        x = x.reshape(batch, -1, 1, p, p, frames, height, width)
        return x.permute(0, 1, 5, 2, 6, 4, 7, 3).reshape(batch, -1, frames, height * p, width * p)


class VideoAutoencoder(nn.Module):
    """LTX-2 style causal video VAE with the official latent normalisation.

    Pixels are (B, 3, T, H, W) in [-1, 1]; "normalised" latents are the DiT's space,
    ``(z - latents_mean) * scaling_factor / latents_std`` per channel.
    """

    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.register_buffer("latents_mean", torch.zeros(cfg.latent_channels))
        self.register_buffer("latents_std", torch.ones(cfg.latent_channels))

    # -- normalisation ------------------------------------------------------------------------------------

    def normalize(self, z: Tensor) -> Tensor:
        """Raw latent -> the DiT's latent space."""
        mean, std = (b.view(1, -1, 1, 1, 1).to(z.dtype) for b in (self.latents_mean, self.latents_std))
        return (z - mean) * self.cfg.scaling_factor / std

    def denormalize(self, z: Tensor) -> Tensor:
        """The DiT's latent space -> raw latent."""
        mean, std = (b.view(1, -1, 1, 1, 1).to(z.dtype) for b in (self.latents_mean, self.latents_std))
        return z * std / self.cfg.scaling_factor + mean

    # -- whole clips --------------------------------------------------------------------------------------

    def encode(self, video: Tensor, *, causal: bool | None = None) -> Tensor:
        """Posterior mode (raw latent) of a clip of 1 + 8k frames: (B, latent, 1 + k, H/32, W/32)."""
        self._check_video(video)
        causal = self.cfg.encoder_causal if causal is None else causal
        return self.encoder(video.to(self.dtype), causal)[:, : self.cfg.latent_channels]

    def posterior(self, video: Tensor) -> tuple[Tensor, Tensor]:
        """(mean, logvar) of the diagonal Gaussian posterior; logvar clamped to [-30, 20]."""
        self._check_video(video)
        params = self.encoder(video.to(self.dtype), self.cfg.encoder_causal)
        mean, logvar = params.chunk(2, dim=1)
        return mean, logvar.clamp(-30.0, 20.0)

    def decode(self, z: Tensor, *, causal: bool | None = None) -> Tensor:
        """Raw latent (B, latent, T', h, w) -> video (B, 3, 1 + 8 (T' - 1), 32h, 32w)."""
        causal = self.cfg.decoder_causal if causal is None else causal
        return self.decoder(z.to(self.dtype), causal)

    # -- streams ------------------------------------------------------------------------------------------

    def encoder_stream(self) -> StreamCache:
        return StreamCache(self.encoder.num_slots, len(self.encoder.down_blocks))

    def decoder_stream(self) -> StreamCache:
        return StreamCache(self.decoder.num_slots, len(self.decoder.up_blocks))

    def encode_chunk(self, video: Tensor, cache: StreamCache) -> Tensor:
        """Causally encode the next frames of a stream: raw latents of the frames completed so far.

        The first chunk should have 1 + 8k frames and later chunks 8k (any split gives the same latents; frames
        that do not complete a latent frame wait in ``cache``).
        """
        return self.encoder(video.to(self.dtype), True, cache)[:, : self.cfg.latent_channels]

    def decode_chunk(self, z: Tensor, cache: StreamCache) -> Tensor:
        """Causally decode the next latent frames of a stream: 1 + 8 (n - 1) frames for the first chunk of n
        latents, 8 n afterwards; equal to the whole-clip causal decode."""
        return self.decoder(z.to(self.dtype), True, cache)

    def _check_video(self, video: Tensor) -> None:
        t_ratio, s_ratio = self.cfg.temporal_compression, self.cfg.spatial_compression
        _, channels, frames, height, width = video.shape
        if channels != self.cfg.in_channels or (frames - 1) % t_ratio or height % s_ratio or width % s_ratio:
            raise ValueError(
                f"video of shape {tuple(video.shape)}: expected (B, {self.cfg.in_channels}, 1 + {t_ratio}k, "
                f"H, W) with H and W multiples of {s_ratio}"
            )

    # -- weights ------------------------------------------------------------------------------------------

    @property
    def dtype(self) -> torch.dtype:
        return self.encoder.conv_in.conv.weight.dtype

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        *,
        causal_decoder: bool = True,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> VideoAutoencoder:
        """Load a folder in diffusers layout (config.json + diffusion_pytorch_model.safetensors; the Lightricks/
        LTX-2 ``vae`` subfolder or the official ``ltx2_causal_vae_0516``) or one written by :meth:`save_pretrained`.

        A bidirectional checkpoint asked for as a causal decoder gets the paper's initialisation: every 3-tap
        temporal kernel [a, b, c] of the decoder becomes [0, a, b + c].
        """
        folder = Path(path)
        cfg = _read_vae_config(folder)
        weights = next(
            (
                folder / n
                for n in ("model.safetensors", "diffusion_pytorch_model.safetensors")
                if (folder / n).is_file()
            ),
            folder / "diffusion_pytorch_model.safetensors",
        )
        state = read_state_dict(weights)
        if causal_decoder and not cfg.decoder_causal:
            state = remap_decoder_to_causal(state)
            cfg = dataclasses.replace(cfg, decoder_causal=True)
        return build_with_weights(lambda: cls(cfg), state, str(weights), dtype=dtype, device=device)

    def save_pretrained(self, path: str | Path) -> None:
        """Write config.json and model.safetensors into the folder ``path``."""
        save_folder(self, self.cfg, path)


def _read_vae_config(folder: Path) -> VAEConfig:
    """Our config.json (written by save_pretrained) or a diffusers / official one."""
    path = folder / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{folder}: no config.json (expected a VAE folder in diffusers layout)")
    try:
        data = json.loads(path.read_text())
        return VAEConfig.from_diffusers(data, name=folder.name) if "_class_name" in data else VAEConfig.from_dict(data)
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: not a usable LTX-2 VAE config ({err})") from None


def remap_decoder_to_causal(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Turn a bidirectional decoder into a causal one: temporal taps [a, b, c] -> [0, a, b + c] (paper 3.6).

    Tap 0 multiplies the oldest frame. Biases, the encoder and the latent statistics are unchanged.
    """
    out = dict(state)
    for key, weight in state.items():
        if key.startswith("decoder.") and key.endswith("conv.weight") and weight.dim() == 5 and weight.shape[2] == 3:
            weight = weight.float()  # the tap sum is exact in float32, not in float16/bfloat16 storage
            new = torch.zeros_like(weight)
            new[:, :, 1] = weight[:, :, 0]
            new[:, :, 2] = weight[:, :, 1] + weight[:, :, 2]
            out[key] = new
    return out
