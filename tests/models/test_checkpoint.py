"""Loading official checkpoints (both layouts, .pth and .safetensors), clear errors, save/from_pretrained."""

from __future__ import annotations

import collections

import pytest
import torch
from safetensors.torch import load_file

from sana_streaming.cli import main
from sana_streaming.eval.official_fixtures import FixtureFolder
from sana_streaming.models.checkpoint import CheckpointError, adapt_official, read_state_dict
from sana_streaming.models.transformer import SanaStreamingTransformer
from tests.conftest import FIXTURES, randomize_, small_config

WEIGHTS = FIXTURES / "model.safetensors"


@pytest.fixture(scope="module")
def fixture_config():
    return FixtureFolder(FIXTURES).model_config(softmax_qk_taps=3)


def run(model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    cfg = model.cfg
    x = torch.randn(1, cfg.in_channels, 3, 4, 6, generator=gen)
    src = torch.randn(1, cfg.source_channels, 3, 4, 6, generator=gen)
    text = model.encode_text(torch.randn(1, 5, cfg.caption_channels, generator=gen))
    with torch.no_grad():
        return model(x, src, torch.tensor([500.0]), text)


def test_official_pth_with_wrapper_and_prefix_loads_like_safetensors(tmp_path, fixture_config):
    state = load_file(str(WEIGHTS))
    torch.save({"generator": {f"module.{k}": v for k, v in state.items()}, "step": 3}, tmp_path / "ckpt.pth")
    from_pth = SanaStreamingTransformer.from_official(tmp_path / "ckpt.pth", fixture_config)
    from_st = SanaStreamingTransformer.from_official(WEIGHTS, fixture_config)
    for (name, a), (_, b) in zip(from_pth.state_dict().items(), from_st.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert from_st.x_embedder.proj.weight.dtype == torch.float32  # fp16 weights upcast exactly


def test_streaming_checkpoint_into_bidirectional_layout_and_back(fixture_config):
    streaming = SanaStreamingTransformer.from_official(WEIGHTS, fixture_config)
    bidir = SanaStreamingTransformer.from_official(WEIGHTS, fixture_config.replace(softmax_qk_taps=0))
    assert bidir.blocks[3].attn.q.weight.shape == (224, 224)
    torch.testing.assert_close(bidir.blocks[3].attn.q.weight, streaming.blocks[3].attn.q.weight[:, :, 1])
    torch.testing.assert_close(run(bidir), run(streaming), atol=1e-5, rtol=1e-5)
    # A bidirectional (Linear q/k) checkpoint loads into the streaming layout: centre tap set, sides zero.
    back = SanaStreamingTransformer.from_official(WEIGHTS, fixture_config)
    back_state = {k: v.clone() for k, v in bidir.state_dict().items()}
    back.load_state_dict(adapt_official(back_state, fixture_config))
    assert torch.equal(back.blocks[3].attn.q.weight[:, :, 0], torch.zeros(224, 224))
    torch.testing.assert_close(run(back), run(streaming), atol=1e-5, rtol=1e-5)


def test_save_and_from_pretrained_round_trip_exactly(tmp_path):
    model = randomize_(SanaStreamingTransformer(small_config())).eval()
    model.save_pretrained(tmp_path / "model")
    loaded = SanaStreamingTransformer.from_pretrained(tmp_path / "model")
    assert loaded.cfg == model.cfg
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert torch.equal(run(model), run(loaded))


def test_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match=r"^checkpoint not found: .*nope\.pth$"):
        read_state_dict(tmp_path / "nope.pth")


def test_wrong_shapes_missing_and_unexpected_keys_are_named(tmp_path, fixture_config):
    state = load_file(str(WEIGHTS))
    state["blocks.0.attn.v.weight"] = torch.zeros(10, 224)
    del state["final_layer.linear.bias"]
    state["blocks.0.attn.extra"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        SanaStreamingTransformer.from_official(path, fixture_config)
    message = str(err.value)
    assert "\n" not in message
    assert "1 missing: final_layer.linear.bias" in message
    assert "1 unexpected: blocks.0.attn.extra" in message
    assert "blocks.0.attn.v.weight (10, 224) (expected (224, 224))" in message


class NotATensor:
    pass


def test_pickle_that_is_not_a_plain_state_dict_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(2), "payload": NotATensor()}, path)
    with pytest.raises(CheckpointError, match="refusing to unpickle arbitrary objects"):
        read_state_dict(path)
    torch.save(collections.OrderedDict(weight=torch.zeros(2), epoch=3), tmp_path / "mixed.pth")
    with pytest.raises(CheckpointError, match="entries that are not tensors: epoch"):
        read_state_dict(tmp_path / "mixed.pth")


def test_garbage_safetensors_is_refused(tmp_path):
    path = tmp_path / "junk.safetensors"
    path.write_bytes(b"not a safetensors file at all")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        read_state_dict(path)


def test_cli_reports_bad_weights_in_one_line(tmp_path, capsys):
    assert main(["convert-official", str(tmp_path / "missing.pth"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: checkpoint not found: {tmp_path / 'missing.pth'}"]


def test_cli_converts_an_official_checkpoint(tmp_path, capsys, monkeypatch, fixture_config):
    import sana_streaming.models.config as config_module

    monkeypatch.setitem(config_module.PRESETS, "fixture", fixture_config)
    assert main(["convert-official", str(WEIGHTS), str(tmp_path / "out"), "--preset", "fixture"]) == 0
    loaded = SanaStreamingTransformer.from_pretrained(tmp_path / "out")
    reference = SanaStreamingTransformer.from_official(WEIGHTS, fixture_config)
    assert torch.equal(run(loaded), run(reference))
    assert "parameters" in capsys.readouterr().out
