"""The 2B presets built on the meta device have the official keys, shapes and parameter counts."""

from __future__ import annotations

import json

import torch

from sana_streaming.models.checkpoint import UNUSED_OFFICIAL_KEYS
from sana_streaming.models.config import get_config
from sana_streaming.models.transformer import SanaStreamingTransformer
from tests.conftest import FIXTURES

MANIFEST = json.loads((FIXTURES / "manifest_2b.json").read_text())


def build(preset: str) -> SanaStreamingTransformer:
    with torch.device("meta"):
        return SanaStreamingTransformer(get_config(preset))


def test_streaming_preset_matches_the_official_manifest():
    model = build("sana-streaming-2b-720p")
    params = {k: list(p.shape) for k, p in model.named_parameters()}
    assert params == {entry["key"]: entry["shape"] for entry in MANIFEST["parameters"]}
    assert sum(p.numel() for p in model.parameters()) == MANIFEST["total_parameters"] == 2_259_529_648
    buffers = {k: list(b.shape) for k, b in model.named_buffers()}
    official_buffers = {entry["key"]: entry["shape"] for entry in MANIFEST["buffers"]}
    # The only official entry we do not carry is the unused sin-cos table (RoPE is used instead).
    assert set(official_buffers) - set(buffers) == set(UNUSED_OFFICIAL_KEYS)
    assert all(official_buffers[k] == shape for k, shape in buffers.items())
    state_keys = set(model.state_dict())
    assert state_keys == set(MANIFEST["state_dict_keys_in_order"]) - set(UNUSED_OFFICIAL_KEYS)
    assert tuple(model.cfg.softmax_layers) == tuple(MANIFEST["softmax_layer_indices"]) == (3, 7, 11, 15, 19)


def test_bidirectional_preset_matches_the_official_count():
    model = build("sana-streaming-2b-720p-bidirectional")
    expected = MANIFEST["bidirectional_model_for_comparison"]["total_parameters"]
    assert sum(p.numel() for p in model.parameters()) == expected == 2_159_177_648
    assert tuple(model.blocks[3].attn.q.weight.shape) == (2240, 2240)
