"""Configuration of the LTX-2 style causal video autoencoder, with presets."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

_DOWN = {"spatial": (1, 2, 2), "temporal": (2, 1, 1), "spatiotemporal": (2, 2, 2)}


@dataclass(frozen=True)
class VAEConfig:
    """Architecture of the LTX-2 video VAE (diffusers ``AutoencoderKLLTX2Video`` field names where they exist).

    Attributes:
        latent_channels: channels of the latent.
        block_out_channels: encoder widths, one per down block.
        downsample_type: per encoder block: "spatial" (1,2,2), "temporal" (2,1,1) or "spatiotemporal" (2,2,2).
        layers_per_block: resnets per encoder block, then in the encoder mid block.
        decoder_block_out_channels: decoder widths (listed from high to low resolution, as diffusers does).
        decoder_layers_per_block: resnets per decoder up block from high to low resolution, then in the mid block
            (diffusers' order; the decoder runs it reversed).
        upsample_type: per up block (low to high resolution): "spatial", "temporal" or "spatiotemporal".
        upsample_factor: channel reduction of each up block's upsampler.
        patch_size: spatial patchify factor (temporal patch is 1).
        scaling_factor: latent scale used in the normalisation (z - mean) * scaling_factor / std.
        encoder_stem_channels: width of the encoder's input conv and first stage; 0 means latent_channels, as
            in LTX-2 (a wide latent then makes the full-resolution stage wide too).
        encoder_causal / decoder_causal: whole-sequence temporal padding is causal (left, replicated first frame)
            or symmetric. Streaming is always causal.
        encoder_padding / decoder_padding: spatial padding mode of the convs ("zeros" / "reflect").
    """

    latent_channels: int = 128
    block_out_channels: tuple[int, ...] = (256, 512, 1024, 2048)
    downsample_type: tuple[str, ...] = ("spatial", "temporal", "spatiotemporal", "spatiotemporal")
    layers_per_block: tuple[int, ...] = (4, 6, 6, 2, 2)
    decoder_block_out_channels: tuple[int, ...] = (256, 512, 1024)
    decoder_layers_per_block: tuple[int, ...] = (5, 5, 5, 5)
    upsample_type: tuple[str, ...] = ("spatiotemporal", "spatiotemporal", "spatiotemporal")
    upsample_factor: tuple[int, ...] = (2, 2, 2)
    upsample_residual: tuple[bool, ...] = (True, True, True)
    patch_size: int = 4
    scaling_factor: float = 1.0
    encoder_causal: bool = True
    decoder_causal: bool = False
    encoder_padding: str = "zeros"
    decoder_padding: str = "reflect"
    in_channels: int = 3
    encoder_stem_channels: int = 0  # width of the encoder's first stage; 0: latent_channels (LTX-2's layout)
    name: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        for name in (
            "block_out_channels",
            "downsample_type",
            "layers_per_block",
            "decoder_block_out_channels",
            "decoder_layers_per_block",
            "upsample_type",
            "upsample_factor",
            "upsample_residual",
        ):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        problems = []
        if len(self.layers_per_block) != len(self.block_out_channels) + 1:
            problems.append("layers_per_block needs one entry per down block plus the mid block")
        if len(self.decoder_layers_per_block) != len(self.decoder_block_out_channels) + 1:
            problems.append("decoder_layers_per_block needs one entry per up block plus the mid block")
        if any(t not in _DOWN for t in (*self.downsample_type, *self.upsample_type)):
            problems.append(f"resampling types must be among {sorted(_DOWN)}")
        if self.spatial_compression != self.decoder_spatial_upsampling:
            problems.append(
                f"encoder compresses space {self.spatial_compression}x, decoder expands "
                f"{self.decoder_spatial_upsampling}x"
            )
        if self.temporal_compression != self.decoder_temporal_upsampling:
            problems.append(
                f"encoder compresses time {self.temporal_compression}x, decoder expands "
                f"{self.decoder_temporal_upsampling}x"
            )
        if problems:
            raise ValueError("invalid VAE config: " + "; ".join(problems))

    @property
    def spatial_compression(self) -> int:
        return self.patch_size * math.prod(_DOWN[t][1] for t in self.downsample_type)

    @property
    def temporal_compression(self) -> int:
        return math.prod(_DOWN[t][0] for t in self.downsample_type)

    @property
    def decoder_spatial_upsampling(self) -> int:
        return self.patch_size * math.prod(_DOWN[t][1] for t in self.upsample_type)

    @property
    def decoder_temporal_upsampling(self) -> int:
        return math.prod(_DOWN[t][0] for t in self.upsample_type)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> VAEConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown VAE config fields: {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_diffusers(cls, data: dict, name: str = "custom") -> VAEConfig:
        """From a diffusers ``AutoencoderKLLTX2Video`` or official ``AutoencoderKLCausalLTX2Video`` config.json."""
        unsupported = [k for k in ("timestep_conditioning",) if data.get(k)]
        if any(data.get("decoder_inject_noise", [])):
            unsupported.append("decoder_inject_noise")
        if data.get("patch_size_t", 1) != 1:
            unsupported.append("patch_size_t")
        if unsupported:
            raise ValueError(f"VAE config uses features this implementation does not have: {', '.join(unsupported)}")
        decoder_scaling = data.get("decoder_spatio_temporal_scaling", (True,) * 3)
        if not all(decoder_scaling) or not all(data.get("spatio_temporal_scaling", (True,))):
            raise ValueError("VAE config has blocks without resampling, which this implementation does not support")
        upsample = data.get("upsample_type") or data.get("decoder_upsample_type") or ("spatiotemporal",) * 3
        return cls(
            latent_channels=data["latent_channels"],
            block_out_channels=data["block_out_channels"],
            downsample_type=data["downsample_type"],
            layers_per_block=data["layers_per_block"],
            decoder_block_out_channels=data["decoder_block_out_channels"],
            decoder_layers_per_block=data["decoder_layers_per_block"],
            upsample_type=upsample,
            upsample_factor=data.get("upsample_factor", (2, 2, 2)),
            upsample_residual=data.get("upsample_residual", (True, True, True)),
            patch_size=data.get("patch_size", 4),
            scaling_factor=float(data.get("scaling_factor", 1.0)),
            encoder_causal=data.get("encoder_causal", True),
            decoder_causal=data.get("decoder_causal", False),
            encoder_padding=data.get("encoder_spatial_padding_mode", "zeros"),
            decoder_padding=data.get("decoder_spatial_padding_mode", "reflect"),
            in_channels=data.get("in_channels", 3),
            name=name,
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> VAEConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))


VAE_PRESETS: dict[str, VAEConfig] = {
    # Lightricks/LTX-2 vae/config.json: 32x spatial, 8x temporal, 128 channels (bidirectional decoder).
    "ltx2": VAEConfig(name="ltx2"),
    # The default model's autoencoder: the same network with small widths, 16x spatial and 8x temporal, so that
    # a 384x224 frame still has 24x14 latent tokens on a CPU.
    "tiny": VAEConfig(
        latent_channels=32,
        block_out_channels=(32, 64, 128),
        downsample_type=("temporal", "spatiotemporal", "spatiotemporal"),
        layers_per_block=(1, 1, 1, 1),
        decoder_block_out_channels=(32, 64, 128),
        decoder_layers_per_block=(1, 1, 1, 1),
        upsample_type=("spatiotemporal", "spatiotemporal", "temporal"),
        upsample_factor=(2, 2, 2),
        upsample_residual=(True, True, True),
        decoder_causal=True,
        name="tiny",
    ),
}
# The tiny encoder (same latents) with a decoder twice as wide: 15M parameters instead of 5M, a 24-frame chunk
# decodes in about 1.0 s instead of 0.5 s on 2 CPU cores. Trained with `vae_train.decoder = "tiny-wide"` on a
# trained tiny VAE, every model trained on the tiny latents keeps working.
VAE_PRESETS["tiny-wide"] = dataclasses.replace(
    VAE_PRESETS["tiny"], decoder_block_out_channels=(64, 128, 256), name="tiny-wide"
)
# The tiny VAE with 2x and 4x the latent channels (96x and 48x compression instead of 192x), for the DiT presets
# of the same names: at 16x space a 32-channel latent holds about what a 16x-downscaled frame does (bicubic:
# 23.9 dB on bikes.mp4 at 384x224), 128 channels about an 8x-downscaled one (28.4 dB). Their encoder's first
# stage stays 32 wide: the editor runs at 13.5 (c64) and 11.9 (c128) frames/s on 2 CPU cores at 384x224,
# against 13.5-14.3 for tiny (with LTX-2's layout, a first stage as wide as the latent, 10.4 and 5.4).
for _channels in (64, 128):
    VAE_PRESETS[f"tiny-c{_channels}"] = dataclasses.replace(
        VAE_PRESETS["tiny"], latent_channels=_channels, encoder_stem_channels=32, name=f"tiny-c{_channels}"
    )
ENCODER_FIELDS = (
    "latent_channels",
    "encoder_stem_channels",
    "block_out_channels",
    "downsample_type",
    "layers_per_block",
    "patch_size",
    "encoder_causal",
    "encoder_padding",
    "in_channels",
)


def get_vae_config(name: str) -> VAEConfig:
    try:
        return VAE_PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown VAE preset {name!r}; choose one of: {', '.join(VAE_PRESETS)}") from None
