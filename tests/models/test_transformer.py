from __future__ import annotations

import pytest
import torch

from sana_streaming.models.config import ModelConfig, get_config
from sana_streaming.models.transformer import SanaStreamingTransformer
from tests.conftest import small_config


def batch(model, frames=4, seed=0, batch_size=2):
    gen = torch.Generator().manual_seed(seed)
    cfg = model.cfg
    x = torch.randn(batch_size, cfg.in_channels, frames, 4, 6, generator=gen)
    src = torch.randn(batch_size, cfg.source_channels, frames, 4, 6, generator=gen)
    feats = torch.randn(batch_size, 5, cfg.caption_channels, generator=gen)
    return x, src, feats


@torch.no_grad()
def test_per_frame_timesteps_equal_one_timestep_when_all_frames_share_it(small_model):
    x, src, feats = batch(small_model)
    text = small_model.encode_text(feats)
    per_sample = small_model(x, src, torch.tensor([300.0, 700.0]), text)
    per_frame = small_model(x, src, torch.tensor([[300.0] * 4, [700.0] * 4]), text)
    torch.testing.assert_close(per_frame, per_sample, atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_samples_of_a_batch_are_independent(small_model):
    x, src, feats = batch(small_model)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    out = small_model(x, src, torch.tensor([300.0, 700.0]), small_model.encode_text(feats, mask))
    alone = small_model(x[1:], src[1:], torch.tensor([700.0]), small_model.encode_text(feats[1:], mask[1:]))
    torch.testing.assert_close(out[1:], alone, atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_source_latent_and_text_both_condition_the_output(small_model):
    x, src, feats = batch(small_model, batch_size=1)
    t = torch.tensor([500.0])
    base = small_model(x, src, t, small_model.encode_text(feats))
    assert (small_model(x, src + 1, t, small_model.encode_text(feats)) - base).abs().max() > 1e-3
    assert (small_model(x, src, t, small_model.encode_text(feats + 1)) - base).abs().max() > 1e-3


@torch.no_grad()
def test_bfloat16_forward_is_close_to_float32(small_model):
    x, src, feats = batch(small_model, batch_size=1)
    ref = small_model(x, src, torch.tensor([500.0]), small_model.encode_text(feats))
    half = SanaStreamingTransformer(small_model.cfg).to(torch.bfloat16).eval()
    half.load_state_dict(small_model.state_dict())
    out = half(x, src, torch.tensor([500.0]), half.encode_text(feats))
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    rel_rms = ((out.float() - ref).pow(2).mean().sqrt() / ref.std()).item()
    assert rel_rms < 0.05


def test_init_weights_zero_the_output_and_temporal_conv():
    model = SanaStreamingTransformer(small_config())
    assert torch.count_nonzero(model.final_layer.linear.weight) == 0
    assert all(torch.count_nonzero(b.mlp.t_conv.weight) == 0 for b in model.blocks)
    decay = torch.exp(-model.blocks[0].attn.A_log.exp() * torch.nn.functional.softplus(model.blocks[0].attn.dt_bias))
    assert torch.all(decay > 0.999)  # GDN starts close to plain linear attention


def test_config_round_trip_and_validation(tmp_path):
    cfg = get_config("tiny")
    cfg.save(tmp_path / "config.json")
    assert ModelConfig.load(tmp_path / "config.json") == cfg
    with pytest.raises(ValueError, match="not a multiple of head_dim"):
        cfg.replace(hidden_size=100)
    with pytest.raises(ValueError, match="softmax_layers"):
        cfg.replace(softmax_layers=(9,))
    with pytest.raises(ValueError, match="unknown model preset 'big'; choose one of"):
        get_config("big")
    with pytest.raises(ValueError, match="unknown model config fields: bogus"):
        ModelConfig.from_dict({**cfg.to_dict(), "bogus": 1})


def test_official_block_pattern():
    cfg = get_config("sana-streaming-2b-720p")
    assert cfg.softmax_layers == (3, 7, 11, 15, 19)
    assert len(cfg.gdn_layers) == 15 and cfg.ffn_hidden == 6720
