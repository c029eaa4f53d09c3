"""The model configuration: one frozen dataclass with named presets."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path


def softmax_layer_indices(depth: int, ratio: float = 0.25) -> tuple[int, ...]:
    """Blocks that use softmax attention: ``ratio`` of them, evenly spaced, the last block included.

    For depth 20 and ratio 0.25 this gives (3, 7, 11, 15, 19), as in the official model.
    """
    if ratio == 0:
        return ()
    count = max(1, int(depth * ratio))
    step = depth / count
    return tuple(int((i + 1) * step) - 1 for i in range(count))


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the hybrid DiT. Field names describe; official equivalents are noted.

    Attributes:
        depth: number of blocks.
        hidden_size: model width C.
        num_heads: cross-attention heads (official ``num_heads``).
        head_dim: self-attention head dim (official ``linear_head_dim``); self-attention has C // head_dim heads.
        mlp_ratio: Mix-FFN hidden width = int(hidden_size * mlp_ratio).
        in_channels: channels of the noisy latent (and of the output).
        source_channels: channels of the source latent concatenated to the input (official ``additional_inchannels``).
        patch_size: (t, h, w) patch of the Conv3d embedder.
        caption_channels: width of the text-encoder features.
        caption_length: tokens of the null caption kept for text dropout (official ``model_max_length``).
        softmax_layers: indices of softmax-attention blocks; the others are Gated DeltaNet.
        softmax_qk_taps: storage of softmax q/k weights: 3 = official streaming checkpoint (Conv1d, centre
            tap used), 0 = official bidirectional checkpoint (plain matrix). The computation is the same.
        qk_norm: RMSNorm on self-attention q and k.
        cross_norm: RMSNorm on cross-attention q and k.
        t_kernel_size: kernel of the Mix-FFN temporal conv.
        rope_theta: RoPE base.
    """

    depth: int
    hidden_size: int
    num_heads: int
    head_dim: int
    mlp_ratio: float
    in_channels: int
    source_channels: int
    caption_channels: int
    caption_length: int
    softmax_layers: tuple[int, ...]
    patch_size: tuple[int, int, int] = (1, 1, 1)
    softmax_qk_taps: int = 3
    qk_norm: bool = True
    cross_norm: bool = True
    t_kernel_size: int = 3
    rope_theta: float = 10000.0
    name: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "softmax_layers", tuple(int(i) for i in self.softmax_layers))
        object.__setattr__(self, "patch_size", tuple(int(p) for p in self.patch_size))
        problems = []
        if self.hidden_size % self.head_dim:
            problems.append(f"hidden_size {self.hidden_size} is not a multiple of head_dim {self.head_dim}")
        if self.hidden_size % self.num_heads:
            problems.append(f"hidden_size {self.hidden_size} is not a multiple of num_heads {self.num_heads}")
        if self.head_dim % 2 or self.head_dim < 6:
            problems.append(f"head_dim {self.head_dim} must be even and at least 6 (3D RoPE split)")
        if any(not 0 <= i < self.depth for i in self.softmax_layers):
            problems.append(f"softmax_layers {self.softmax_layers} outside 0..{self.depth - 1}")
        if self.patch_size[0] != 1:
            problems.append(f"temporal patch must be 1, got {self.patch_size}")
        if self.softmax_qk_taps not in (0, 1, 3):
            problems.append(f"softmax_qk_taps must be 0, 1 or 3, got {self.softmax_qk_taps}")
        if problems:
            raise ValueError("invalid model config: " + "; ".join(problems))

    @property
    def ffn_hidden(self) -> int:
        return int(self.hidden_size * self.mlp_ratio)

    @property
    def out_channels(self) -> int:
        return self.in_channels

    @property
    def gdn_layers(self) -> tuple[int, ...]:
        return tuple(i for i in range(self.depth) if i not in self.softmax_layers)

    def replace(self, **changes) -> ModelConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["softmax_layers"] = list(self.softmax_layers)
        data["patch_size"] = list(self.patch_size)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown model config fields: {', '.join(unknown)}")
        return cls(**data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> ModelConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))


_2B = dict(
    depth=20,
    hidden_size=2240,
    num_heads=20,
    head_dim=112,
    mlp_ratio=3.0,
    in_channels=128,
    source_channels=128,
    caption_channels=2304,
    caption_length=300,
    softmax_layers=softmax_layer_indices(20, 0.25),
)

PRESETS: dict[str, ModelConfig] = {
    # The official SANA-Streaming 2B model, streaming checkpoint layout (dit/sana_streaming_ar.pth).
    "sana-streaming-2b-720p": ModelConfig(**_2B, softmax_qk_taps=3, name="sana-streaming-2b-720p"),
    # The official bidirectional short model (dit/sana_bidirectional_short.pth); same network.
    "sana-streaming-2b-720p-bidirectional": ModelConfig(
        **_2B, softmax_qk_taps=0, name="sana-streaming-2b-720p-bidirectional"
    ),
    # Small enough for fast CPU tests and a CPU demo; same block pattern (3 GDN blocks, then softmax).
    "tiny": ModelConfig(
        depth=4,
        hidden_size=192,
        num_heads=4,
        head_dim=48,
        mlp_ratio=2.5,
        in_channels=32,
        source_channels=32,
        caption_channels=384,
        caption_length=64,
        softmax_layers=softmax_layer_indices(4, 0.25),
        softmax_qk_taps=1,
        name="tiny",
    ),
}


# The tiny DiT for the wider-latent tiny VAEs (`tiny-c64`, `tiny-c128`): only the latent channels differ.
for _channels in (64, 128):
    PRESETS[f"tiny-c{_channels}"] = dataclasses.replace(
        PRESETS["tiny"], in_channels=_channels, source_channels=_channels, name=f"tiny-c{_channels}"
    )


def get_config(name: str) -> ModelConfig:
    """A preset by name; raises a clear error listing the presets."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown model preset {name!r}; choose one of: {', '.join(PRESETS)}") from None
