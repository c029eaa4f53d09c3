"""A decoder grown from a trained VAE decodes exactly as it did, whole clips and streams, and its new resnets
learn from the first step."""

from __future__ import annotations

import pytest
import torch

from sana_streaming.vae.autoencoder import VideoAutoencoder
from sana_streaming.vae.config import get_vae_config
from sana_streaming.vae.grow import calibrate_latents, grow_decoder, grow_latent, grow_width

ATOL = 1e-5  # float32: the same convs in the same order; only the new resnets' zero branches are added


@pytest.fixture
def tiny_vae():
    torch.manual_seed(0)
    vae = VideoAutoencoder(get_vae_config("tiny")).eval()
    for parameter in vae.parameters():  # trained-like weights: no zero branch anywhere in the old decoder
        parameter.data.normal_(0, 0.05)
    return vae


def _latents(vae, frames: int = 4):
    return torch.randn(1, vae.cfg.latent_channels, frames, 3, 4, generator=torch.Generator().manual_seed(1))


@torch.no_grad()
def test_a_grown_decoder_decodes_as_the_trained_one(tiny_vae):
    grown = grow_decoder(tiny_vae, (2, 2, 3, 2)).eval()
    assert grown.cfg.decoder_layers_per_block == (2, 2, 3, 2) and grown.cfg.name == "tiny-dec2-2-3-2"
    assert len(grown.decoder.up_blocks[0].resnets) == 3  # the config lists the up blocks from high resolution
    assert len(grown.decoder.up_blocks[2].resnets) == len(grown.decoder.mid_block.resnets) == 2
    torch.testing.assert_close(grown.encoder.state_dict(), tiny_vae.encoder.state_dict())
    z = _latents(tiny_vae)
    for causal in (True, False):
        torch.testing.assert_close(grown.decode(z, causal=causal), tiny_vae.decode(z, causal=causal), atol=ATOL, rtol=0)
    caches = [vae.decoder_stream() for vae in (tiny_vae, grown)]
    for part in z.split([1, 2, 1], dim=2):  # through the caches, the new resnets' convs too
        out = [vae.decode_chunk(part, cache) for vae, cache in zip((tiny_vae, grown), caches, strict=True)]
        torch.testing.assert_close(out[1], out[0], atol=ATOL, rtol=0)
    assert len(caches[1].convs) == len(caches[0].convs) + 2 * 5  # two convs for each of the 5 new resnets
    assert caches[1].convs[-1] is not None


def test_the_new_resnets_learn_from_the_first_step(tiny_vae):
    grown = grow_decoder(tiny_vae, (2, 1, 1, 2)).train()  # the highest-resolution up block and the mid block
    grown.decode(_latents(tiny_vae)).square().mean().backward()
    assert len(grown.decoder.up_blocks[0].resnets) == 1
    for resnet in (grown.decoder.mid_block.resnets[1], grown.decoder.up_blocks[2].resnets[1]):
        assert resnet.conv2.conv.weight.grad.abs().max() > 0
        assert resnet.conv2.conv.bias.grad.abs().max() > 0
    assert grown.decoder.up_blocks[0].resnets[0].conv1.conv.weight.grad.abs().max() > 0


def test_a_decoder_that_would_not_grow_is_refused(tiny_vae):
    with pytest.raises(ValueError, match="must add resnets"):
        grow_decoder(tiny_vae, (1, 1, 1, 1))
    with pytest.raises(ValueError, match="must add resnets"):
        grow_decoder(tiny_vae, (2, 0, 1, 1))
    with pytest.raises(ValueError, match="block depths given"):
        grow_decoder(tiny_vae, (2, 2))


def test_a_grown_latent_keeps_the_trained_channels_and_the_decode(tiny_vae):
    grown = grow_latent(tiny_vae, 64).eval()
    assert grown.cfg.latent_channels == 64 and grown.cfg.encoder_stem_channels == 32 and grown.cfg.name == "tiny-c64"
    video = torch.rand(1, 3, 9, 64, 96, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.no_grad():
        z_old, z = tiny_vae.encode(video), grown.encode(video)
        torch.testing.assert_close(z[:, :32], z_old, atol=ATOL, rtol=0)
        assert z[:, 32:].std() > 0.01  # the new channels carry features from the start
        torch.testing.assert_close(grown.decode(z), tiny_vae.decode(z_old), atol=ATOL, rtol=0)
        logvar = grown.posterior(video)[1]
        torch.testing.assert_close(logvar[:, :32], tiny_vae.posterior(video)[1], atol=ATOL, rtol=0)
        torch.testing.assert_close(grown.normalize(z)[:, :32], tiny_vae.normalize(z_old), atol=ATOL, rtol=0)
    grown.train()
    grown.decode(grown.encode(video)).square().mean().backward()
    new_inputs = grown.decoder.conv_in.conv.weight.grad[:, 32:]
    assert new_inputs.abs().max() > 0  # the decoder starts reading the new channels at the first step
    assert grown.encoder.conv_out.conv.weight.grad[32:64].abs().max() == 0  # read through zero weights: no grad yet
    with pytest.raises(ValueError, match="not more than"):
        grow_latent(tiny_vae, 32)


WIDE_TOL = dict(atol=1e-4, rtol=1e-4)  # float32: a split input column sums in another order


@torch.no_grad()
@pytest.mark.parametrize("parts", [("encoder", "decoder"), ("decoder",)])
def test_a_widened_vae_encodes_and_decodes_as_the_trained_one(tiny_vae, parts):
    grown = grow_width(tiny_vae, 2, parts, noise=0).eval()
    assert grown.cfg.decoder_block_out_channels == (64, 128, 256)
    wide_encoder = "encoder" in parts
    assert grown.cfg.block_out_channels == ((64, 128, 256) if wide_encoder else (32, 64, 128))
    assert grown.cfg.name == ("tiny-w2" if wide_encoder else "tiny-decw2")
    video = torch.rand(1, 3, 17, 64, 96, generator=torch.Generator().manual_seed(2)) * 2 - 1
    z = tiny_vae.encode(video)
    torch.testing.assert_close(grown.encode(video), z, **WIDE_TOL)
    for causal in (True, False):
        torch.testing.assert_close(grown.decode(z, causal=causal), tiny_vae.decode(z, causal=causal), **WIDE_TOL)
    caches = [(vae.encoder_stream(), vae.decoder_stream()) for vae in (tiny_vae, grown)]
    for part in video.split([9, 8], dim=2):  # through the streaming caches, the strided steps' pending frames too
        pairs = zip((tiny_vae, grown), caches, strict=True)
        out = [vae.decode_chunk(vae.encode_chunk(part, enc), dec) for vae, (enc, dec) in pairs]
        torch.testing.assert_close(out[1], out[0], **WIDE_TOL)
    params = [sum(p.numel() for p in vae.parameters()) for vae in (tiny_vae, grown)]
    assert params[1] > 2.5 * params[0]


def test_a_widened_vaes_copies_part_from_their_originals(tiny_vae):
    grown = grow_width(tiny_vae, 2, ("decoder",), noise=1e-3).train()
    conv = grown.decoder.mid_block.resnets[0].conv1.conv
    half = conv.weight.shape[0] // 2
    assert 0 < (conv.weight[half:] - conv.weight[:half]).abs().max() < 0.01 * conv.weight.abs().max()
    z = _latents(tiny_vae)
    with torch.no_grad():  # the noise moves the output a little
        change = (grown.decode(z) - tiny_vae.decode(z)).abs().max()
    assert 0 < change < 0.05
    grown.decode(z).square().mean().backward()
    grad = conv.weight.grad
    assert (grad[half:] - grad[:half]).abs().max() > 1e-3 * grad.abs().max()  # the copies learn apart


def test_a_width_that_would_not_grow_is_refused(tiny_vae):
    for factor in (1, 1.5):
        with pytest.raises(ValueError, match="whole number of at least 2"):
            grow_width(tiny_vae, factor)
    with pytest.raises(ValueError, match="parts must be among"):
        grow_width(tiny_vae, 2, ("mid",))


@torch.no_grad()
def test_calibrated_new_channels_are_normalised_and_the_old_ones_keep_their_statistics(tiny_vae):
    grown = grow_latent(tiny_vae, 48).eval()
    videos = [torch.rand(2, 3, 17, 64, 96, generator=torch.Generator().manual_seed(s)) * 2 - 1 for s in (3, 4)]
    calibrate_latents(grown, videos, 32)
    z = grown.normalize(torch.cat([grown.encode(v) for v in videos]))
    per_channel = z.transpose(0, 1).flatten(1)
    torch.testing.assert_close(per_channel[32:].mean(1), torch.zeros(16), atol=1e-4, rtol=0)
    torch.testing.assert_close(per_channel[32:].std(1), torch.ones(16), atol=1e-4, rtol=0)
    assert (grown.latents_mean[:32] == 0).all() and (grown.latents_std[:32] == 1).all()
    raw = grown.encode(videos[0])
    torch.testing.assert_close(grown.denormalize(grown.normalize(raw)), raw, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="not within"):
        calibrate_latents(grown, videos, 48)
    with pytest.raises(ValueError, match="no latents"):
        calibrate_latents(grown, [], 32)
