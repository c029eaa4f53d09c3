"""Our VAE against diffusers on random configs, and the streaming invariants of encoder and decoder."""

from __future__ import annotations

import itertools

import pytest
import torch

from sana_streaming.vae.autoencoder import VideoAutoencoder
from sana_streaming.vae.config import VAEConfig, get_vae_config
from sana_streaming.vae.diffusers_vae import DiffusersLTX2VAE

diffusers = pytest.importorskip("diffusers")

STREAM_REL = 1e-5  # fp32 relative error (||a - b|| / ||b||) allowed for chunked vs whole-clip passes

SMALL_32X = VAEConfig(
    latent_channels=8,
    block_out_channels=(8, 16, 16, 16),
    layers_per_block=(1, 1, 1, 1, 1),
    decoder_block_out_channels=(8, 16, 32),
    decoder_layers_per_block=(1, 1, 1, 1),
    scaling_factor=0.7,
    name="small-32x",
)


def diffusers_model(cfg: VAEConfig, decoder_causal: bool):
    blocks, up_blocks = len(cfg.block_out_channels), len(cfg.decoder_block_out_channels)
    return diffusers.AutoencoderKLLTX2Video(
        latent_channels=cfg.latent_channels,
        block_out_channels=cfg.block_out_channels,
        down_block_types=("LTX2VideoDownBlock3D",) * blocks,
        decoder_block_out_channels=cfg.decoder_block_out_channels,
        layers_per_block=cfg.layers_per_block,
        decoder_layers_per_block=cfg.decoder_layers_per_block,
        spatio_temporal_scaling=(True,) * blocks,
        decoder_spatio_temporal_scaling=(True,) * up_blocks,
        decoder_inject_noise=(False,) * (up_blocks + 1),
        downsample_type=cfg.downsample_type,
        upsample_type=cfg.upsample_type,
        upsample_residual=cfg.upsample_residual,
        upsample_factor=cfg.upsample_factor,
        patch_size=cfg.patch_size,
        scaling_factor=cfg.scaling_factor,
        encoder_causal=True,
        decoder_causal=decoder_causal,
        spatial_compression_ratio=cfg.spatial_compression,
        temporal_compression_ratio=cfg.temporal_compression,
    ).eval()


def random_pair(cfg: VAEConfig, seed: int = 0, decoder_causal: bool = False):
    """A diffusers model with random non-trivial weights and ours holding the same tensors."""
    torch.manual_seed(seed)
    reference = diffusers_model(cfg, decoder_causal)
    with torch.no_grad():
        for p in reference.parameters():
            fan_in = p[0].numel() if p.dim() > 1 else 1
            p.copy_(torch.randn_like(p) * (fan_in**-0.5 if p.dim() > 1 else 0.2))
        reference.latents_mean.copy_(torch.randn(cfg.latent_channels) * 0.5)
        reference.latents_std.copy_(torch.rand(cfg.latent_channels) * 1.5 + 0.5)
    ours = VideoAutoencoder(cfg.__class__(**{**cfg.__dict__, "decoder_causal": decoder_causal})).eval()
    ours.load_state_dict(reference.state_dict())
    return reference, ours


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("cfg", [SMALL_32X, get_vae_config("tiny")], ids=["32x", "tiny-16x"])
@torch.no_grad()
def test_same_keys_encode_and_bidirectional_decode_as_diffusers(cfg, same_conv_kernels):
    reference, ours = random_pair(cfg)
    assert set(ours.state_dict()) == set(reference.state_dict())
    s, t = cfg.spatial_compression, cfg.temporal_compression
    video = torch.rand(1, 3, 1 + 2 * t, 2 * s, 3 * s) * 2 - 1
    expected = reference.encode(video).latent_dist.mode()
    torch.testing.assert_close(ours.encode(video), expected, atol=1e-5, rtol=1e-5)
    z = torch.randn(1, cfg.latent_channels, 3, 2, 3)
    torch.testing.assert_close(ours.decode(z), reference.decode(z).sample, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cfg", [SMALL_32X, get_vae_config("tiny")], ids=["32x", "tiny-16x"])
@pytest.mark.parametrize("chunks", [(3, 3, 3, 3), (1, 1, 2, 5, 3), (5, 7)])
@torch.no_grad()
def test_chunked_decode_equals_whole_causal_decode(cfg, chunks, same_conv_kernels):
    reference, ours = random_pair(cfg, decoder_causal=True)
    z = torch.randn(1, cfg.latent_channels, sum(chunks), 2, 3)
    whole = ours.decode(z)
    assert whole.shape[2] == 1 + cfg.temporal_compression * (sum(chunks) - 1)
    torch.testing.assert_close(whole, reference.decode(z).sample, atol=1e-5, rtol=1e-5)
    cache = ours.decoder_stream()
    parts, start = [], 0
    for size in chunks:
        parts.append(ours.decode_chunk(z[:, :, start : start + size], cache))
        start += size
    assert parts[0].shape[2] == 1 + cfg.temporal_compression * (chunks[0] - 1)
    assert all(p.shape[2] == cfg.temporal_compression * n for p, n in zip(parts[1:], chunks[1:], strict=True))
    assert rel_err(torch.cat(parts, dim=2), whole) <= STREAM_REL


@pytest.mark.parametrize("cfg", [SMALL_32X, get_vae_config("tiny")], ids=["32x", "tiny-16x"])
@torch.no_grad()
def test_chunked_encode_equals_whole_causal_encode(cfg):
    _, ours = random_pair(cfg)
    s, t = cfg.spatial_compression, cfg.temporal_compression
    video = torch.rand(1, 3, 1 + 5 * t, s, 2 * s) * 2 - 1
    whole = ours.encode(video)
    for chunks in [(1 + t, 2 * t, 2 * t), (1, 5 * t), (3, 4 * t, t - 2)]:
        cache = ours.encoder_stream()
        parts, start = [], 0
        for size in chunks:
            parts.append(ours.encode_chunk(video[:, :, start : start + size], cache))
            start += size
        assert rel_err(torch.cat(parts, dim=2), whole) <= STREAM_REL, chunks


@torch.no_grad()
def test_latent_frames_depend_only_on_past_frames():
    _, ours = random_pair(get_vae_config("tiny"))
    video = torch.rand(1, 3, 25, 32, 48) * 2 - 1
    changed = video.clone()
    changed[:, :, 10:] = -changed[:, :, 10:]  # frames >= 10 only touch latents >= 2 (latent j covers 8j-7 .. 8j)
    a, b = ours.encode(video), ours.encode(changed)
    assert torch.equal(a[:, :, :2], b[:, :, :2])
    assert (a[:, :, 2:] - b[:, :, 2:]).abs().max() > 1e-3


@torch.no_grad()
def test_normalisation_round_trips():
    _, ours = random_pair(SMALL_32X)
    z = torch.randn(2, SMALL_32X.latent_channels, 3, 2, 2) * 3
    torch.testing.assert_close(ours.denormalize(ours.normalize(z)), z, atol=1e-6, rtol=1e-6)
    normed = ours.normalize(z)
    expected = (
        (z - ours.latents_mean.view(1, -1, 1, 1, 1)) * SMALL_32X.scaling_factor / ours.latents_std.view(1, -1, 1, 1, 1)
    )
    torch.testing.assert_close(normed, expected)


@torch.no_grad()
def test_diffusers_wrapper_matches_our_normalised_latents(tmp_path):
    reference, ours = random_pair(SMALL_32X)
    reference.save_pretrained(tmp_path / "vae")
    wrapped = DiffusersLTX2VAE(tmp_path / "vae")
    video = torch.rand(1, 3, 9, 64, 64) * 2 - 1
    z = wrapped.encode(video)
    torch.testing.assert_close(z, ours.normalize(ours.encode(video)), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(wrapped.decode(z), ours.decode(ours.denormalize(z)), atol=1e-5, rtol=1e-5)
    loaded = VideoAutoencoder.from_pretrained(tmp_path / "vae", causal_decoder=False)
    torch.testing.assert_close(loaded.decode(ours.denormalize(z)), wrapped.decode(z), atol=1e-5, rtol=1e-5)


def test_bad_video_shape_is_a_clear_error():
    ours = VideoAutoencoder(SMALL_32X)
    with pytest.raises(ValueError, match=r"expected \(B, 3, 1 \+ 8k, H, W\) with H and W multiples of 32"):
        ours.encode(torch.zeros(1, 3, 10, 64, 64))


def test_save_and_from_pretrained_round_trip(tmp_path):
    _, ours = random_pair(get_vae_config("tiny"), decoder_causal=True)
    ours.save_pretrained(tmp_path / "tiny_vae")
    loaded = VideoAutoencoder.from_pretrained(tmp_path / "tiny_vae")
    assert loaded.cfg == ours.cfg
    for (name, a), (_, b) in zip(ours.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


@torch.no_grad()
def test_streams_stacked_into_one_call_equal_each_stream_alone():
    """StreamCache.stack / split_into: two streams a chunk apart share their later encoder and decoder calls."""
    from sana_streaming.vae.layers import StreamCache

    cfg = get_vae_config("tiny")
    _, ours = random_pair(cfg)
    s, t = cfg.spatial_compression, cfg.temporal_compression
    gen = torch.Generator().manual_seed(3)
    videos = [torch.rand(1, 3, 1 + 4 * t, 2 * s, 3 * s, generator=gen) * 2 - 1 for _ in range(2)]
    bounds = [0, 1 + t, 1 + 2 * t, 1 + 3 * t, 1 + 4 * t]  # a first chunk, then chunks of one latent frame

    def alone(video):
        enc, dec = ours.encoder_stream(), ours.decoder_stream()
        latents = [ours.encode_chunk(video[:, :, a:b], enc) for a, b in itertools.pairwise(bounds)]
        return latents, [ours.decode_chunk(z, dec) for z in latents]

    want = [alone(v) for v in videos]
    enc, dec = [ours.encoder_stream(), ours.encoder_stream()], [ours.decoder_stream(), ours.decoder_stream()]
    got = [([], []), ([], [])]

    def one(k: int, c: int) -> None:
        z = ours.encode_chunk(videos[k][:, :, bounds[c] : bounds[c + 1]], enc[k])
        got[k][0].append(z)
        got[k][1].append(ours.decode_chunk(z, dec[k]))

    one(0, 0), one(0, 1), one(1, 0)  # stream 0 a chunk ahead
    with pytest.raises(ValueError, match="different points"):
        StreamCache.stack([enc[0], ours.encoder_stream()])
    for c in (2, 3):  # stream 0's chunk c with stream 1's chunk c - 1, in one call each
        x = torch.cat([videos[0][:, :, bounds[c] : bounds[c + 1]], videos[1][:, :, bounds[c - 1] : bounds[c]]])
        stacked = StreamCache.stack(enc)
        z = ours.encode_chunk(x, stacked)
        stacked.split_into(enc, [1, 1])
        stacked = StreamCache.stack(dec)
        pixels = ours.decode_chunk(z, stacked)
        stacked.split_into(dec, [1, 1])
        for k in range(2):
            got[k][0].append(z[k : k + 1])
            got[k][1].append(pixels[k : k + 1])
    one(1, 3)
    for k in range(2):
        for part in range(2):
            for a, b in zip(got[k][part], want[k][part], strict=True):
                torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
