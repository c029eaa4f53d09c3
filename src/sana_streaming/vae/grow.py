"""A bigger VAE from a trained one, computing the same function at first, to train on from where it is.

:func:`grow_decoder`: a deeper decoder on the same latents (the encoder untouched, so every editor trained on them
stays valid). New resnets come after the trained ones of each decoder block (up blocks and mid block), each an
identity at first: a resnet adds ``conv2(...)`` to its input, and its ``conv2`` starts at zero. A zero conv still
receives a gradient (its input is not zero), so the new resnets start learning at the first step.

:func:`grow_latent`: more latent channels, the trained ones first (an editor follows with
:func:`sana_streaming.models.grow.grow_channels`).

:func:`grow_width`: every channel of the encoder's or the decoder's blocks (or both) twice (three times ...), each
copy equal to its original: a conv's output rows are repeated and its input columns split among the copies, so the
RMS norms (a channel mean of squares) and the SiLUs see what they saw, and the strided space-to-depth and
depth-to-space steps keep the copies in one block after the originals. A little noise on the copies' rows lets
them part from their originals (equal copies would get equal gradients forever).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from sana_streaming.vae.autoencoder import VideoAutoencoder


@torch.no_grad()
def grow_decoder(vae: VideoAutoencoder, layers: tuple[int, ...], seed: int = 0) -> VideoAutoencoder:
    """``vae`` with ``layers`` resnets in its decoder's blocks, in the order of the config's
    ``decoder_layers_per_block`` (up blocks from high to low resolution, then the mid block), equal to it on every
    latent (float32, on the CPU).

    Args:
        layers: per decoder block, at least as many resnets as the VAE has there, more in one at least.
        seed: the new resnets' first convs' initialisation.
    """
    old = vae.cfg
    layers = tuple(layers)
    if len(layers) != len(old.decoder_layers_per_block):
        raise ValueError(
            f"grow_decoder: {len(layers)} block depths given, the decoder has {len(old.decoder_layers_per_block)} "
            "blocks (each up block, then the mid block)"
        )
    if any(n < o for n, o in zip(layers, old.decoder_layers_per_block, strict=True)) or sum(layers) == sum(
        old.decoder_layers_per_block
    ):
        raise ValueError(
            f"grow_decoder: depths {layers} must add resnets to the decoder's {old.decoder_layers_per_block}"
        )
    tag = "-".join(map(str, layers))
    cfg = dataclasses.replace(old, decoder_layers_per_block=layers, name=f"{old.name.split('-dec')[0]}-dec{tag}")
    with torch.random.fork_rng(devices=[]):  # the caller's random state stays as it was
        torch.manual_seed(seed)
        grown = VideoAutoencoder(cfg)
    state = {name: value.float() for name, value in vae.state_dict().items()}
    missing, unexpected = grown.load_state_dict(state, strict=False)
    # the config lists the up blocks from high to low resolution, then the mid block (diffusers' order)
    names = [*(f"up_blocks.{j}" for j in reversed(range(len(grown.decoder.up_blocks)))), "mid_block"]
    new = [
        (f"decoder.{name}.resnets.{i}.", grown.decoder.get_submodule(name).resnets[i])
        for name, count in zip(names, old.decoder_layers_per_block, strict=True)
        for i in range(count, len(grown.decoder.get_submodule(name).resnets))
    ]
    prefixes = tuple(prefix for prefix, _ in new)
    if unexpected or any(not name.startswith(prefixes) for name in missing):
        raise RuntimeError(f"grow_decoder: weights do not fit (missing {missing[:3]}, unexpected {unexpected[:3]})")
    for _, resnet in new:
        for parameter in resnet.conv2.parameters():
            nn.init.zeros_(parameter)
    return grown


@torch.no_grad()
def grow_latent(vae: VideoAutoencoder, channels: int, seed: int = 0) -> VideoAutoencoder:
    """``vae`` with a latent of ``channels`` channels, the trained ones first: it encodes them as before and
    decodes exactly as before (float32, on the CPU), the new ones unused by the decoder at first.

    The encoder's output conv gets new rows for the new channels (freshly initialised, so they carry features
    of the frame from the first step) and keeps the shared log-variance row last; the decoder's input conv gets
    zero weights for them, which still receive a gradient. The encoder's stem keeps its width (it is the
    latent's width by default). The new channels' latent statistics are 0 and 1.
    """
    old = vae.cfg
    if channels <= old.latent_channels:
        raise ValueError(f"grow_latent: {channels} channels is not more than the VAE's {old.latent_channels}")
    stem = old.encoder_stem_channels or old.latent_channels
    cfg = dataclasses.replace(
        old, latent_channels=channels, encoder_stem_channels=stem, name=f"{old.name.split('-c')[0]}-c{channels}"
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        grown = VideoAutoencoder(cfg)
    fresh = grown.state_dict()
    n = old.latent_channels
    state = {name: value.float() for name, value in vae.state_dict().items()}
    for name in ("encoder.conv_out.conv.weight", "encoder.conv_out.conv.bias"):
        rows = fresh[name].clone()
        rows[:n], rows[-1] = state[name][:n], state[name][-1]  # the trained means, then the log-variance
        state[name] = rows
    weight = torch.zeros_like(fresh["decoder.conv_in.conv.weight"])
    weight[:, :n] = state["decoder.conv_in.conv.weight"]
    state["decoder.conv_in.conv.weight"] = weight
    for name, fill in (("latents_mean", 0.0), ("latents_std", 1.0)):
        state[name] = torch.cat([state[name], torch.full((channels - n,), fill)])
    grown.load_state_dict(state)
    return grown


_PARTS = ("encoder", "decoder")


@torch.no_grad()
def grow_width(
    vae: VideoAutoencoder, factor: int = 2, parts: tuple[str, ...] = _PARTS, noise: float = 1e-3, seed: int = 0
) -> VideoAutoencoder:
    """``vae`` with ``factor`` times the channels in the blocks of ``parts`` ("encoder", "decoder"), its latent
    unchanged, equal to it but for ``noise`` (float32, on the CPU). Growing the decoder alone keeps the latents,
    hence every editor trained on them.

    Args:
        factor: an integer of at least 2 (the copies must be whole for the RMS norms to see the same mean).
        noise: the copies' conv rows get Gaussian noise of ``noise`` times each weight's standard deviation.
    """
    if not isinstance(factor, int) or factor < 2:
        raise ValueError(f"grow_width: the factor must be a whole number of at least 2, not {factor!r}")
    parts = tuple(parts)
    if not parts or any(part not in _PARTS for part in parts):
        raise ValueError(f"grow_width: parts must be among {', '.join(_PARTS)}, not {', '.join(parts) or 'none'}")
    old = vae.cfg
    changes, tag = {}, "w" if len(parts) == 2 else f"{parts[0][:3]}w"
    if "encoder" in parts:
        stem = old.encoder_stem_channels or old.latent_channels
        changes["block_out_channels"] = tuple(factor * c for c in old.block_out_channels)
        changes["encoder_stem_channels"] = factor * stem
    if "decoder" in parts:
        changes["decoder_block_out_channels"] = tuple(factor * c for c in old.decoder_block_out_channels)
    cfg = dataclasses.replace(old, **changes, name=f"{old.name}-{tag}{factor}")
    with torch.random.fork_rng(devices=[]):  # every weight is replaced below; the caller's random state stays
        grown = VideoAutoencoder(cfg)
    state = {name: value.float() for name, value in vae.state_dict().items()}
    generator = torch.Generator().manual_seed(seed)
    for name, target in grown.state_dict().items():
        if state[name].shape != target.shape:
            state[name] = widen_tensor(state[name], target.shape, factor, noise=noise, generator=generator, name=name)
    grown.load_state_dict(state)
    return grown


def widen_tensor(
    value: Tensor,
    shape: torch.Size | tuple[int, ...],
    factor: int,
    *,
    groups: int = 1,
    noise: float = 0.0,
    generator: torch.Generator | None = None,
    name: str = "tensor",
) -> Tensor:
    """One weight of a layer whose channels are repeated ``factor`` times (copies after the originals): its
    output rows (axis 0) repeated within each of ``groups`` equal groups (a fused projection's parts), and, when
    axis 1 (the input channels) grows, each input channel's weight split evenly among its copies, so that the
    layer maps repeated inputs to repeated outputs. The copies' rows of a weight of two axes or more get
    Gaussian noise of ``noise`` times the weight's standard deviation, so that training can tell them apart.
    """
    if value.dim() > 1 and value.shape[1] != shape[1]:
        value = torch.cat([value / factor] * factor, dim=1)
    parts = value.unflatten(0, (groups, -1))  # (groups, rows, ...)
    rows = parts.shape[1]
    wide = torch.cat([parts] * (shape[0] // value.shape[0]), dim=1)
    copies = wide[:, rows:]
    if value.dim() > 1 and noise > 0 and copies.numel():
        copies += noise * float(value.std()) * torch.randn(copies.shape, generator=generator)
    wide = wide.flatten(0, 1)
    if wide.shape != shape:
        raise RuntimeError(f"grow_width: {name} is {tuple(wide.shape)} where {tuple(shape)} is needed")
    return wide


@torch.no_grad()
def calibrate_latents(vae: VideoAutoencoder, videos, first: int) -> VideoAutoencoder:
    """``vae`` (changed in place) with the statistics of latent channels ``first`` onwards measured on
    ``videos`` (tensors (B, 3, 1 + 8k, H, W) in [-1, 1]): there, the normalised latents of those videos have mean 0
    and standard deviation 1. The channels before ``first`` keep their statistics, so an editor trained on them
    stays valid.

    What it is for: a latent grown by :func:`grow_latent` starts with statistics 0 and 1, while its new channels,
    once trained, are far smaller than 1; an editor grown by :func:`sana_streaming.models.grow.grow_channels`
    leaves the sampler's noise in them (a velocity of 0), at unit scale, which swamps the decoder. At the
    channels' own scale that noise costs about what zeroing them does.
    """
    n = vae.cfg.latent_channels
    if not 0 <= first < n:
        raise ValueError(f"calibrate_latents: first channel {first} is not within the VAE's {n} latent channels")
    total = squares = count = 0
    for video in videos:
        z = vae.encode(video.to(vae.latents_std.device, vae.dtype)).double()[:, first:]
        total = total + z.sum(dim=(0, 2, 3, 4))
        squares = squares + z.square().sum(dim=(0, 2, 3, 4))
        count += z.numel() // z.shape[1]
    if count < 2:
        raise ValueError("calibrate_latents: no latents to measure (give at least one video)")
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt() * (count / (count - 1)) ** 0.5
    if (std == 0).any():
        raise ValueError("calibrate_latents: a channel does not vary over these videos; give more varied ones")
    vae.latents_mean[first:] = mean.to(vae.latents_mean.dtype)
    vae.latents_std[first:] = (std * vae.cfg.scaling_factor).to(vae.latents_std.dtype)
    return vae
