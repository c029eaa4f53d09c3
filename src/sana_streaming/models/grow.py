"""A deeper or wider editor from a trained one, computing the same function: training goes on with more capacity.

The trained blocks keep their places; the new ones come after them, each an identity at first (the outputs
of its self-attention, cross-attention and feed-forward branches zero, so every residual branch adds nothing),
the rest of each new block freshly initialised (:meth:`SanaStreamingTransformer.init_weights`). A zero output
still receives a gradient (its input is not zero), so the new blocks start learning at the first step.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from sana_streaming.models.transformer import SanaStreamingTransformer
from sana_streaming.vae.grow import widen_tensor


def grown_softmax_layers(old_depth: int, softmax_layers: tuple[int, ...], depth: int) -> tuple[int, ...]:
    """The model's softmax blocks, then every fourth new block (the official pattern: 3, 7, 11, ...)."""
    return tuple(softmax_layers) + tuple(i for i in range(old_depth, depth) if i % 4 == 3)


@torch.no_grad()
def grow_depth(
    model: SanaStreamingTransformer, depth: int, softmax_layers: tuple[int, ...] | None = None, seed: int = 0
) -> SanaStreamingTransformer:
    """``model`` with blocks appended up to ``depth``, equal to it on every input (float32, on the CPU).

    Args:
        depth: the new number of blocks, more than the model's.
        softmax_layers: the new model's softmax blocks; the model's own must be among them and every other old
            block must stay Gated DeltaNet. Default: :func:`grown_softmax_layers`.
        seed: the new blocks' initialisation.
    """
    old = model.cfg
    if depth <= old.depth:
        raise ValueError(f"grow_depth: depth {depth} is not more than the model's {old.depth}")
    layers = grown_softmax_layers(old.depth, old.softmax_layers, depth) if softmax_layers is None else softmax_layers
    kept = tuple(i for i in layers if i < old.depth)
    if sorted(kept) != sorted(old.softmax_layers):
        raise ValueError(
            f"grow_depth: softmax_layers {tuple(layers)} change the kinds of the trained blocks "
            f"(softmax in {old.softmax_layers} of the first {old.depth})"
        )
    name = f"{old.name.split('-depth')[0]}-depth{depth}"
    cfg = dataclasses.replace(old, depth=depth, softmax_layers=tuple(sorted(layers)), name=name)
    with torch.random.fork_rng(devices=[]):  # the caller's random state stays as it was
        torch.manual_seed(seed)
        grown = SanaStreamingTransformer(cfg)
        grown.init_weights()
    state = {name: value.float() for name, value in model.state_dict().items()}
    missing, unexpected = grown.load_state_dict(state, strict=False)
    new_prefixes = tuple(f"blocks.{i}." for i in range(old.depth, depth))
    if unexpected or any(not name.startswith(new_prefixes) for name in missing):
        raise RuntimeError(f"grow_depth: weights do not fit (missing {missing[:3]}, unexpected {unexpected[:3]})")
    for block in grown.blocks[old.depth :]:
        for output in (block.attn.proj, block.cross_attn.proj, block.mlp.point_conv):
            for parameter in output.parameters():
                nn.init.zeros_(parameter)
    return grown


@torch.no_grad()
def grow_channels(model: SanaStreamingTransformer, channels: int) -> SanaStreamingTransformer:
    """``model`` for a latent of ``channels`` channels (a VAE grown by :func:`sana_streaming.vae.grow.grow_latent`),
    the trained channels first: on them it gives the model's outputs whatever the new channels hold, and on the
    new ones a velocity of 0 at first.

    The patchifier's weights for the new channels of the noisy and of the source latent, and the output layer's
    rows for the new channels, start at zero (a zero weight still receives a gradient). A velocity of 0 leaves
    the sampler's starting noise in the new channels: harmless through a VAE that does not read them yet (one
    fresh from ``grow_latent``); through one trained to use them, calibrate its statistics first
    (:func:`sana_streaming.vae.grow.calibrate_latents`) so that the noise is at the channels' own scale.
    """
    old = model.cfg
    if channels <= old.in_channels or old.source_channels != old.in_channels:
        raise ValueError(
            f"grow_channels: {channels} channels for a model of {old.in_channels} (source {old.source_channels}): "
            "the latent must grow, and the source latent must be the same VAE's"
        )
    name = f"{old.name.split('-c')[0]}-c{channels}"
    cfg = dataclasses.replace(old, in_channels=channels, source_channels=channels, name=name)
    grown = SanaStreamingTransformer(cfg)
    state = {key: value.float() for key, value in model.state_dict().items()}
    n = old.in_channels
    embed = state["x_embedder.proj.weight"]  # (dim, noisy + source channels, patch...)
    weight = embed.new_zeros(embed.shape[0], 2 * channels, *embed.shape[2:])
    weight[:, :n], weight[:, channels : channels + n] = embed[:, :n], embed[:, n:]
    state["x_embedder.proj.weight"] = weight
    for key in ("final_layer.linear.weight", "final_layer.linear.bias"):  # rows: patch position, then channel
        rows = state[key].unflatten(0, (-1, n))
        wide = rows.new_zeros(rows.shape[0], channels, *rows.shape[2:])
        wide[:, :n] = rows
        state[key] = wide.flatten(0, 1)
    grown.load_state_dict(state)
    return grown


# Fused projections whose output rows are several parts of the model's width: each part widens on its own.
_GROUPS = {"t_block.1.": 6, "cross_attn.kv_linear.": 2, "mlp.inverted_conv.": 2, "mlp.depth_conv.": 2}


@torch.no_grad()
def grow_width(
    model: SanaStreamingTransformer, factor: int = 2, noise: float = 1e-3, seed: int = 0
) -> SanaStreamingTransformer:
    """``model`` with ``factor`` times its width (hidden size, heads of the same size, feed-forward width), equal to
    it but for ``noise`` (float32, on the CPU): every channel of the residual stream, every head and every
    feed-forward channel repeated, each input channel's weight split among its copies, and the copies' rows
    given Gaussian noise of ``noise`` times each weight's standard deviation so that training can tell them
    apart (:func:`sana_streaming.vae.grow.widen_tensor`). The norms see the same mean square over repeated
    channels, and the attention the same heads, so the function is unchanged at ``noise = 0``.

    Args:
        factor: an integer of at least 2.
    """
    if not isinstance(factor, int) or factor < 2:
        raise ValueError(f"grow_width: the factor must be a whole number of at least 2, not {factor!r}")
    old = model.cfg
    cfg = dataclasses.replace(
        old, hidden_size=factor * old.hidden_size, num_heads=factor * old.num_heads, name=f"{old.name}-w{factor}"
    )
    with torch.random.fork_rng(devices=[]):  # every weight is replaced below; the caller's random state stays
        grown = SanaStreamingTransformer(cfg)
    state = {name: value.float() for name, value in model.state_dict().items()}
    generator = torch.Generator().manual_seed(seed)
    for name, target in grown.state_dict().items():
        if state[name].shape == target.shape:
            continue
        groups = next((n for part, n in _GROUPS.items() if part in name), 1)
        table = name.endswith("scale_shift_table")  # (6 or 2, width): added to the modulation, not an input axis
        state[name] = widen_tensor(
            state[name].T if table else state[name],
            target.T.shape if table else target.shape,
            factor,
            groups=groups,
            noise=0.0 if table else noise,
            generator=generator,
            name=name,
        )
        if table:
            state[name] = state[name].T.contiguous()
    grown.load_state_dict(state)
    return grown
