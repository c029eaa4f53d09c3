"""A deeper editor grown from a trained one computes the same function, streaming included, and its new blocks
learn from the first step."""

from __future__ import annotations

import pytest
import torch

from sana_streaming.engine.sampler import SamplerConfig, StreamingSampler
from sana_streaming.models.grow import grow_channels, grow_depth, grow_width, grown_softmax_layers
from sana_streaming.models.state import CacheWindow

ATOL = 1e-5  # float32: the same operations in the same order; only the new blocks' zero branches are added


def _inputs(model, frames: int = 6):
    """Latents, source latents and caption features (each model encodes them for its own blocks)."""
    gen = torch.Generator().manual_seed(3)
    cfg = model.cfg
    x = torch.randn(1, cfg.in_channels, frames, 4, 6, generator=gen)
    source = torch.randn(1, cfg.source_channels, frames, 4, 6, generator=gen)
    return x, source, torch.randn(1, 5, cfg.caption_channels, generator=gen)


def test_the_default_places_of_the_new_softmax_blocks():
    assert grown_softmax_layers(4, (3,), 8) == (3, 7)
    assert grown_softmax_layers(4, (1, 3), 12) == (1, 3, 7, 11)
    assert grown_softmax_layers(4, (3,), 6) == (3,)


@torch.no_grad()
def assert_same_function(model, grown, atol: float = ATOL) -> None:
    """``grown`` gives ``model``'s outputs on whole clips, chunk-causally, and streamed through the caches."""
    x, source, caption = _inputs(model)
    models = (model, grown)
    texts = [m.encode_text(caption) for m in models]
    for chunks in (None, (3, 3)):  # the bidirectional form and the chunk-causal one
        out = [m(x, source, 0.7, t, chunks=chunks) for m, t in zip(models, texts, strict=True)]
        torch.testing.assert_close(out[1], out[0], atol=atol, rtol=0)
    config = SamplerConfig(chunk_frames=3, window=CacheWindow(3))
    streams = [StreamingSampler(m, config) for m in models]
    states = [s.init_state(1, (4, 6), 3) for s in streams]
    for c in range(4):  # through the caches (GDN states, softmax K/V, temporal context), the new blocks' too
        noise = torch.randn(1, model.cfg.in_channels, 3, 4, 6, generator=torch.Generator().manual_seed(c))
        chunk = source[:, :, 3 * (c % 2) : 3 * (c % 2) + 3]
        out = [s.denoise_chunk(noise, chunk, t, st) for s, t, st in zip(streams, texts, states, strict=True)]
        torch.testing.assert_close(out[1], out[0], atol=atol, rtol=0)
    assert states[1].num_chunks == 4


def test_a_grown_model_equals_the_trained_one_on_whole_clips_and_streams(small_model):
    grown = grow_depth(small_model, 8).eval()
    assert grown.cfg.depth == 8 and grown.cfg.softmax_layers == (1, 3, 7) and grown.cfg.name == "test-small-depth8"
    assert_same_function(small_model, grown)


def test_a_wider_model_equals_the_trained_one_without_noise(small_model):
    """Width, heads and feed-forward channels repeated (the fused projections' parts each on its own): the same
    function; the heads keep their size."""
    grown = grow_width(small_model, 2, noise=0).eval()
    cfg = grown.cfg
    assert (cfg.hidden_size, cfg.num_heads, cfg.head_dim) == (192, 4, 48) and cfg.name == "test-small-w2"
    assert grown.blocks[0].mlp.point_conv.conv.weight.shape[1] == 2 * small_model.cfg.ffn_hidden
    assert_same_function(small_model, grown, atol=1e-4)  # sums over twice the channels, in another order
    assert_same_function(small_model, grow_width(small_model, 3, noise=0).eval(), atol=1e-4)


def test_a_wider_models_copies_start_close_and_learn_apart(small_model):
    grown = grow_width(small_model, 2).train()  # noise 1e-3 of each weight's spread on the copies
    x, source, caption = _inputs(small_model)
    with torch.no_grad():
        ref = small_model(x, source, 0.5, small_model.encode_text(caption))
    out = grown(x, source, 0.5, grown.encode_text(caption))
    assert 0 < float((out.detach() - ref).abs().max()) < 0.02 * float(ref.abs().max())
    out.square().mean().backward()
    width = small_model.cfg.hidden_size
    for weight in (grown.blocks[0].attn.v.weight, grown.blocks[1].attn.proj.weight, grown.final_layer.linear.weight):
        original, copy = weight.grad[..., :width], weight.grad[..., width:]  # the input halves
        assert not torch.allclose(original, copy, rtol=1e-3, atol=0)


def test_bad_widening_is_refused(small_model):
    for factor in (1, 1.5):
        with pytest.raises(ValueError, match="whole number of at least 2"):
            grow_width(small_model, factor)


def test_the_new_blocks_learn_from_the_first_step(small_model):
    grown = grow_depth(small_model, 6).train()
    x, source, caption = _inputs(small_model)
    grown(x, source, 0.5, grown.encode_text(caption)).square().mean().backward()
    for block in grown.blocks[4:]:
        for output in (block.attn.proj, block.cross_attn.proj, block.mlp.point_conv):
            assert all(p.grad is not None and p.grad.abs().max() > 0 for p in output.parameters())


def test_growth_is_seeded_and_leaves_the_callers_random_state_alone(small_model):
    before = torch.random.get_rng_state()
    a, b = grow_depth(small_model, 6, seed=1), grow_depth(small_model, 6, seed=1)
    assert torch.equal(torch.random.get_rng_state(), before)
    torch.testing.assert_close(a.state_dict(), b.state_dict(), atol=0, rtol=0)
    c = grow_depth(small_model, 6, seed=2)
    assert not torch.equal(c.blocks[5].attn.v.weight, a.blocks[5].attn.v.weight)


def test_bad_growth_is_refused(small_model):
    with pytest.raises(ValueError, match="not more than"):
        grow_depth(small_model, 4)
    with pytest.raises(ValueError, match="change the kinds"):
        grow_depth(small_model, 8, softmax_layers=(3, 7))  # block 1 was softmax


@torch.no_grad()
def test_a_model_grown_to_more_latent_channels_keeps_the_trained_ones(small_model):
    channels = small_model.cfg.in_channels
    grown = grow_channels(small_model, channels + 4).eval()
    assert grown.cfg.in_channels == grown.cfg.source_channels == channels + 4
    x, source, caption = _inputs(small_model)
    extra = torch.randn(2, 1, 4, *x.shape[2:], generator=torch.Generator().manual_seed(5))
    wide_x, wide_source = torch.cat([x, extra[0]], dim=1), torch.cat([source, extra[1]], dim=1)
    for chunks in (None, (3, 3)):
        out = grown(wide_x, wide_source, 0.7, grown.encode_text(caption), chunks=chunks)
        want = small_model(x, source, 0.7, small_model.encode_text(caption), chunks=chunks)
        torch.testing.assert_close(out[:, :channels], want, atol=ATOL, rtol=0)
        assert out[:, channels:].abs().max() == 0
    with pytest.raises(ValueError, match="must grow"):
        grow_channels(small_model, channels)


def test_the_new_channels_learn_from_the_first_step(small_model):
    channels = small_model.cfg.in_channels
    grown = grow_channels(small_model, channels + 4).train()
    x, source, caption = _inputs(grown)
    target = torch.randn_like(x)  # the new channels' outputs are 0: a loss on their square alone has no gradient
    (grown(x, source, 0.5, grown.encode_text(caption)) - target).square().mean().backward()
    embed = grown.x_embedder.proj.weight.grad
    assert embed[:, channels : channels + 4].abs().max() > 0 and embed[:, -4:].abs().max() > 0
    rows = grown.final_layer.linear.weight.grad.unflatten(0, (-1, channels + 4))
    assert rows[:, channels:].abs().max() > 0
