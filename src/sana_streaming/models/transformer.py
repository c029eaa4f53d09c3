"""The hybrid diffusion transformer of SANA-Streaming.

20 blocks at 2B scale: Gated DeltaNet self-attention in most blocks, gated softmax attention in every fourth
(the last included). Each block: AdaLN-single modulated self-attention, text cross-attention, modulated
Mix-FFN with a temporal conv. The source video latent is concatenated to the noisy latent on channels.
The network predicts the flow velocity (noise - x0).

Three ways to run the same weights:
- :meth:`SanaStreamingTransformer.forward` on a whole clip (the bidirectional model, the training teacher);
- :meth:`SanaStreamingTransformer.forward` with ``chunks=``: the chunk-causal full-sequence form, equal to
  streaming the chunks one by one (each chunk sees its own frames and the cache window of earlier ones);
- :meth:`SanaStreamingTransformer.forward_chunk`: one chunk of a stream, with an explicit :class:`StreamState`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint as activation_checkpoint

from sana_streaming.models.checkpoint import (
    CheckpointError,
    adapt_official,
    build_with_weights,
    read_state_dict,
    save_folder,
)
from sana_streaming.models.config import ModelConfig, get_config
from sana_streaming.models.state import BlockMemory, CacheWindow, SoftmaxKVCache, StreamBatch, StreamState
from sana_streaming.nn.cross_attention import CrossAttention, text_attention_bias
from sana_streaming.nn.embed import CaptionEmbedder, FinalLayer, PatchEmbed, TimestepEmbedder
from sana_streaming.nn.gdn import GatedDeltaNetAttention
from sana_streaming.nn.linear import TapLinear
from sana_streaming.nn.mix_ffn import MixFFN
from sana_streaming.nn.norm import RMSNorm, gate, layer_norm, modulate
from sana_streaming.nn.rope import rope_table
from sana_streaming.nn.softmax_attention import GatedSoftmaxAttention


@dataclass(frozen=True)
class FrameLayout:
    """How the tokens of one call are arranged in time.

    Attributes:
        grid: (T, H, W) token grid.
        chunks: frames per chunk (sum T); temporal mixing never looks into a later chunk.
        rope: (cos, sin) per token at absolute frame positions, each (N, head_dim // 2).
        attn_mask: boolean (N, N) chunk-causal visibility for softmax blocks; None = all tokens.
    """

    grid: tuple[int, int, int]
    chunks: tuple[int, ...]
    rope: tuple[Tensor, Tensor]
    attn_mask: Tensor | None = None


@dataclass
class TextCondition:
    """An encoded prompt: per-block cross-attention keys/values and the padding bias. Reuse it across calls.

    Attributes:
        context: one (keys, values) pair per block, each (B, heads, L, D).
        bias: additive logit bias (B, 1, 1, L) for padded tokens, or None when nothing is padded.
    """

    context: list[tuple[Tensor, Tensor]]
    bias: Tensor | None

    @classmethod
    def cat(cls, conditions: list[TextCondition]) -> TextCondition:
        """One condition for a batch stacked from ``conditions``; prompts of different lengths are padded."""
        if len(conditions) == 1:
            return conditions[0]
        lengths = [c.context[0][0].shape[2] for c in conditions]
        longest = max(lengths)

        def stacked(per_condition: list[list[tuple[Tensor, Tensor]]]) -> list[tuple[Tensor, Tensor]]:
            blocks = zip(*per_condition, strict=True)
            return [(torch.cat([k for k, _ in kv]), torch.cat([v for _, v in kv])) for kv in blocks]

        padded = [
            [(F.pad(k, (0, 0, 0, longest - n)), F.pad(v, (0, 0, 0, longest - n))) for k, v in c.context]
            for c, n in zip(conditions, lengths, strict=True)
        ]
        if all(n == longest for n in lengths) and all(c.bias is None for c in conditions):
            return cls(stacked(padded), None)
        masks = []
        for c, n in zip(conditions, lengths, strict=True):
            keys = c.context[0][0]
            valid = (
                torch.ones(keys.shape[0], n, device=keys.device) if c.bias is None else (c.bias[:, 0, 0] == 0).float()
            )
            masks.append(F.pad(valid, (0, longest - n)))
        return cls(stacked(padded), text_attention_bias(torch.cat(masks), conditions[0].context[0][0].dtype))


class HybridBlock(nn.Module):
    """x += gate1 * SelfAttn(mod(LN x)); x += CrossAttn(x, text); x += gate2 * MixFFN(mod(LN x))."""

    def __init__(self, cfg: ModelConfig, softmax: bool) -> None:
        super().__init__()
        dim = cfg.hidden_size
        self.is_softmax = softmax
        self.scale_shift_table = nn.Parameter(torch.zeros(6, dim))
        if softmax:
            self.attn = GatedSoftmaxAttention(dim, cfg.head_dim, qk_taps=cfg.softmax_qk_taps, qk_norm=cfg.qk_norm)
        else:
            self.attn = GatedDeltaNetAttention(dim, cfg.head_dim, qk_norm=cfg.qk_norm)
        self.cross_attn = CrossAttention(dim, cfg.num_heads, qk_norm=cfg.cross_norm)
        self.mlp = MixFFN(dim, cfg.ffn_hidden, cfg.t_kernel_size)

    def forward(
        self,
        x: Tensor,
        mod: Tensor,
        layout: FrameLayout,
        text: tuple[tuple[Tensor, Tensor], Tensor | None],
        memory: BlockMemory,
    ) -> tuple[Tensor, BlockMemory]:
        """Args:
            x: tokens (B, N, C).
            mod: timestep modulation (B, Tm, 6 * C), Tm = 1 or T.
            layout: temporal arrangement of the tokens.
            text: this block's cross-attention (keys, values) and the padding bias.
            memory: what the block reads from earlier chunks (empty for a whole clip).

        Returns:
            the new tokens and what this call produced for the next chunk's cache.
        """
        shift1, scale1, gate1, shift2, scale2, gate2 = (self.scale_shift_table + mod.unflatten(-1, (6, -1))).unbind(2)
        h = modulate(layer_norm(x), shift1, scale1)
        if self.is_softmax:
            h, keys, values = self.attn(h, layout.rope, context=memory.context, mask=layout.attn_mask)
            produced = BlockMemory(keys=keys, values=values)
        else:
            h, state_kv, state_z = self.attn(
                h, layout.grid[0], layout.rope, chunks=layout.chunks, state_kv=memory.state_kv, state_z=memory.state_z
            )
            produced = BlockMemory(state_kv=state_kv, state_z=state_z)
        x = x + gate(h, gate1)
        x = x + self.cross_attn(x, *text)
        h, produced.tconv = self.mlp(
            modulate(layer_norm(x), shift2, scale2), layout.grid, chunks=layout.chunks, left=memory.tconv
        )
        return x + gate(h, gate2), produced


class SanaStreamingTransformer(nn.Module):
    """The SANA-Streaming DiT. Parameter names match the official checkpoints."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dim = cfg.hidden_size
        self.x_embedder = PatchEmbed(cfg.in_channels + cfg.source_channels, dim, cfg.patch_size)
        self.t_embedder = TimestepEmbedder(dim)
        self.t_block = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        self.y_embedder = CaptionEmbedder(cfg.caption_channels, dim, cfg.caption_length)
        self.attention_y_norm = RMSNorm(dim, eps=1e-5)
        self.blocks = nn.ModuleList(HybridBlock(cfg, i in cfg.softmax_layers) for i in range(cfg.depth))
        self.final_layer = FinalLayer(dim, math.prod(cfg.patch_size) * cfg.out_channels)
        # Recompute each block in the backward pass of `forward` instead of keeping its activations (training).
        self.gradient_checkpointing = False
        self.init_weights()

    # -- conditioning ---------------------------------------------------------------------------------------

    def encode_text(self, features: Tensor, mask: Tensor | None = None) -> TextCondition:
        """Embed text-encoder features once per prompt.

        Args:
            features: (B, L, caption_channels) or the official (B, 1, L, caption_channels).
            mask: (B, L), 1 = valid token, 0 = padding; None = all valid.
        """
        if features.dim() == 4:
            features = features.squeeze(1)
        y = self.attention_y_norm(self.y_embedder(features.to(self.dtype)))
        bias = None if mask is None else text_attention_bias(mask, y.dtype)
        return TextCondition([block.cross_attn.text_context(y) for block in self.blocks], bias)

    def _timestep(self, timestep: Tensor | float, batch: int) -> tuple[Tensor, Tensor]:
        """Timestep embedding (B, Tm, C) and block modulation (B, Tm, 6C); timestep () / (B,) / (B, T)."""
        t = torch.as_tensor(timestep, device=self.x_embedder.proj.weight.device)
        t = t.expand(batch) if t.dim() == 0 else t
        t = t[:, None] if t.dim() == 1 else t
        t_emb = self.t_embedder(t)
        return t_emb, self.t_block(t_emb)

    def _embed(self, x: Tensor, source: Tensor) -> tuple[Tensor, tuple[int, int, int]]:
        """Concatenate noisy and source latents on channels and patchify: (B, N, C) tokens and the grid."""
        x = torch.cat([x, source.to(x.dtype)], dim=1).to(self.dtype)
        pt, ph, pw = self.cfg.patch_size
        grid = (x.shape[2] // pt, x.shape[3] // ph, x.shape[4] // pw)
        return self.x_embedder(x), grid

    def _unpatchify(self, x: Tensor, grid: tuple[int, int, int]) -> Tensor:
        """(B, N, p * C_out) -> (B, C_out, T, H, W)."""
        frames, height, width = grid
        pt, ph, pw = self.cfg.patch_size
        x = x.reshape(x.shape[0], frames, height, width, pt, ph, pw, self.cfg.out_channels)
        x = torch.einsum("bthwopqc->bctohpwq", x)
        return x.reshape(x.shape[0], self.cfg.out_channels, frames * pt, height * ph, width * pw)

    def _rope(
        self, frame_start: int | Tensor, grid: tuple[int, int, int], device: torch.device
    ) -> tuple[Tensor, Tensor]:
        frames, height, width = grid
        return rope_table(
            self.cfg.head_dim, frame_start, frames, height, width, device=device, theta=self.cfg.rope_theta
        )

    # -- the three entry points ------------------------------------------------------------------------------

    def forward(
        self,
        x: Tensor,
        source: Tensor,
        timestep: Tensor | float,
        text: TextCondition,
        *,
        chunks: tuple[int, ...] | None = None,
        window: CacheWindow | None = None,
    ) -> Tensor:
        """Predict the flow velocity for a whole clip.

        Args:
            x: noisy latents (B, C_in, T, H, W).
            source: source-video latents (B, C_src, T, H, W).
            timestep: () or (B,) on the 0..1000 scale, or (B, T) per frame.
            text: from :meth:`encode_text`.
            chunks: None for the bidirectional model; otherwise frames per chunk for the chunk-causal form
                (equal to streaming those chunks one by one with :meth:`forward_chunk`).
            window: softmax cache window of the chunk-causal form (default: the official one).

        Returns:
            velocity (B, C_out, T, H, W) in the model dtype. With ``gradient_checkpointing`` set and autograd on,
            block activations are recomputed in the backward pass (same gradients, less memory).
        """
        tokens, grid = self._embed(x, source)
        chunks = tuple(chunks) if chunks is not None else (grid[0],)
        mask = None if len(chunks) == 1 else chunk_causal_mask(chunks, grid, window or CacheWindow(), x.device)
        layout = FrameLayout(grid, chunks, self._rope(0, grid, x.device), mask)
        t_emb, mod = self._timestep(timestep, x.shape[0])
        recompute = self.gradient_checkpointing and torch.is_grad_enabled()
        for block, context in zip(self.blocks, text.context, strict=True):
            if recompute:
                tokens, _ = activation_checkpoint(
                    block, tokens, mod, layout, (context, text.bias), BlockMemory(), use_reentrant=False
                )
            else:
                tokens, _ = block(tokens, mod, layout, (context, text.bias), BlockMemory())
        return self._unpatchify(self.final_layer(tokens, t_emb), grid)

    def forward_chunk(
        self,
        x: Tensor,
        source: Tensor,
        timestep: Tensor | float,
        text: TextCondition,
        state: StreamState | StreamBatch,
        *,
        write_cache: bool = False,
    ) -> tuple[Tensor, StreamState | StreamBatch]:
        """Predict the velocity of the next chunk of a stream (or of several: a :class:`StreamBatch`).

        The chunk sits at absolute frames [state.frame_offset, + T). With ``write_cache`` the call stores its
        GDN states, softmax keys/values and temporal-conv context in ``state`` and advances it past the chunk;
        otherwise ``state`` is only read. With a :class:`StreamBatch` the batch of ``x`` is its streams' samples
        in order, each at its own position, and ``text`` may be :meth:`TextCondition.cat` of their prompts.

        Returns:
            velocity (B, C_out, T, H, W) and ``state``.
        """
        tokens, grid = self._embed(x, source)
        if write_cache:
            state.check_chunk(tokens.shape[1])
        layout = FrameLayout(grid, (grid[0],), self._rope(state.position, grid, x.device))
        t_emb, mod = self._timestep(timestep, x.shape[0])
        for i, (block, context) in enumerate(zip(self.blocks, text.context, strict=True)):
            tokens, produced = block(tokens, mod, layout, (context, text.bias), state.read(i))
            if write_cache:
                state.write_(i, produced)
        if write_cache:
            state.commit_(grid[0])
        return self._unpatchify(self.final_layer(tokens, t_emb), grid), state

    def init_state(
        self,
        batch_size: int,
        latent_size: tuple[int, int],
        first_chunk_frames: int,
        chunk_frames: int = 3,
        window: CacheWindow | None = None,
        device: torch.device | str | None = None,
    ) -> StreamState:
        """Allocate the caches of one stream.

        Args:
            batch_size: streams edited together.
            latent_size: latent (height, width).
            first_chunk_frames: latent frames of chunk 0 (it becomes the softmax sink).
            chunk_frames: latent frames of every later chunk.
            window: softmax cache window (default: 2 chunks, sink on, as the official sampler).
        """
        cfg = self.cfg
        device = device or self.x_embedder.proj.weight.device
        spatial = (latent_size[0] // cfg.patch_size[1]) * (latent_size[1] // cfg.patch_size[2])
        heads, head_dim = cfg.hidden_size // cfg.head_dim, cfg.head_dim
        num_gdn = len(cfg.gdn_layers)
        gdn_kv = torch.zeros(num_gdn, batch_size, heads, head_dim, head_dim, device=device)
        kv = SoftmaxKVCache(
            len(cfg.softmax_layers),
            (batch_size, heads, head_dim),
            first_chunk_frames * spatial,
            chunk_frames * spatial,
            window or CacheWindow(),
            device=device,
            dtype=self.dtype,
        )
        return StreamState(
            gdn_kv=gdn_kv,
            gdn_z=torch.zeros(num_gdn, batch_size, heads, head_dim, device=device),
            tconv=torch.zeros(cfg.depth, batch_size, spatial, cfg.hidden_size, device=device, dtype=self.dtype),
            kv=kv,
            gdn_index={b: i for i, b in enumerate(cfg.gdn_layers)},
            softmax_index={b: i for i, b in enumerate(cfg.softmax_layers)},
        )

    # -- weights --------------------------------------------------------------------------------------------

    @classmethod
    def from_pretrained(
        cls, path: str | Path, *, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
    ) -> SanaStreamingTransformer:
        """Load a model folder written by :meth:`save_pretrained` (config.json + model.safetensors)."""
        folder = Path(path)
        if not (folder / "config.json").is_file():
            raise CheckpointError(f"{folder}: no config.json here (expected a folder written by save_pretrained)")
        try:
            cfg = ModelConfig.load(folder / "config.json")
        except (ValueError, TypeError) as err:
            raise CheckpointError(f"{folder / 'config.json'}: {err}") from None
        return cls._from_state(cfg, read_state_dict(folder / "model.safetensors"), str(folder), dtype, device)

    @classmethod
    def from_official(
        cls,
        path: str | Path,
        config: ModelConfig | str = "sana-streaming-2b-720p",
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> SanaStreamingTransformer:
        """Load an official SANA-Streaming checkpoint (streaming or bidirectional; .pth or .safetensors)."""
        cfg = get_config(config) if isinstance(config, str) else config
        state = adapt_official(read_state_dict(path), cfg)
        return cls._from_state(cfg, state, str(path), dtype, device)

    @classmethod
    def _from_state(cls, cfg, state, source, dtype, device) -> SanaStreamingTransformer:
        return build_with_weights(lambda: cls(cfg), state, source, dtype=dtype, device=device)

    def save_pretrained(self, path: str | Path) -> None:
        """Write config.json and model.safetensors into the folder ``path``."""
        save_folder(self, self.cfg, path)

    @property
    def dtype(self) -> torch.dtype:
        return self.x_embedder.proj.weight.dtype

    @torch.no_grad()
    def init_weights(self) -> None:
        """Initialisation for training from scratch (the official recipe: xavier linears, small timestep and
        caption MLPs, zero cross-attention output, final layer and temporal conv, GDN gates near linear
        attention)."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for module in self.modules():
            if isinstance(module, TapLinear):
                nn.init.xavier_uniform_(module.weight.view(module.weight.shape[0], -1))
        nn.init.xavier_uniform_(self.x_embedder.proj.weight.view(self.cfg.hidden_size, -1))
        nn.init.zeros_(self.x_embedder.proj.bias)
        for linear in (
            self.t_embedder.mlp[0],
            self.t_embedder.mlp[2],
            self.t_block[1],
            self.y_embedder.y_proj.fc1,
            self.y_embedder.y_proj.fc2,
        ):
            nn.init.normal_(linear.weight, std=0.02)
        dim = self.cfg.hidden_size
        for block in self.blocks:
            nn.init.normal_(block.scale_shift_table, std=dim**-0.5)
            nn.init.zeros_(block.cross_attn.proj.weight)
            nn.init.zeros_(block.cross_attn.proj.bias)
            nn.init.zeros_(block.mlp.t_conv.weight)
            attn = block.attn
            nn.init.zeros_(attn.output_gate.weight)
            nn.init.ones_(attn.output_gate.bias)
            if isinstance(attn, GatedDeltaNetAttention):
                nn.init.zeros_(attn.beta_proj.weight)
                nn.init.constant_(attn.beta_proj.bias, 5.0)
                nn.init.zeros_(attn.gate_proj.weight)
                nn.init.zeros_(attn.gate_proj.bias)
                attn.dt_bias.fill_(-8.0)
                attn.A_log.zero_()
        nn.init.normal_(self.final_layer.scale_shift_table, std=dim**-0.5)
        nn.init.zeros_(self.final_layer.linear.weight)
        nn.init.zeros_(self.final_layer.linear.bias)

    @torch.no_grad()
    def randomize_weights(self, seed: int = 0) -> SanaStreamingTransformer:
        """Random weights with every part active (unlike ``init_weights``, whose zero output layer, temporal
        conv and gates make a fresh model's output exactly zero): for studies of numerics and speed without a
        trained model, and for tests. Fan-in-scaled normals; norms near 1; GDN decays and betas spread."""
        gen = torch.Generator().manual_seed(seed)

        def normal(p: Tensor, mean: float = 0.0, std: float = 1.0) -> None:
            p.copy_(torch.randn(p.shape, generator=gen) * std + mean)

        for name, p in self.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if name.endswith("norm.weight"):
                normal(p, 1.0, 0.1)
            elif leaf == "scale_shift_table":
                normal(p, 0.0, 0.2)
            elif leaf == "A_log":
                normal(p, 0.0, 0.5)
            elif leaf == "dt_bias":
                normal(p, -2.0, 0.5)
            elif leaf == "bias":
                normal(p, 0.5 if "output_gate" in name else 0.0, 0.5 if "gate" in name else 0.1)
            else:
                fan_in = p[0].numel() if p.dim() > 1 else p.numel()
                normal(p, 0.0, fan_in**-0.5)
        for module in self.modules():
            if isinstance(module, GatedDeltaNetAttention):
                normal(module.beta_proj.bias)
        return self


def chunk_causal_mask(
    chunks: tuple[int, ...], grid: tuple[int, int, int], window: CacheWindow, device: torch.device
) -> Tensor:
    """Token visibility (N, N) of the chunk-causal form: a chunk sees itself and its cached earlier chunks."""
    num = len(chunks)
    visible = torch.eye(num, dtype=torch.bool)
    for c in range(num):
        visible[c, window.cached_chunks(c)] = True
    per_chunk = torch.tensor(chunks) * grid[1] * grid[2]
    return visible.repeat_interleave(per_chunk, dim=0).repeat_interleave(per_chunk, dim=1).to(device)
