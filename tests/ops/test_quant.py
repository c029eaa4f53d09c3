"""Mixed-precision policies: which layers they touch and the error they add (FP8 numerics emulated on the CPU)."""

from __future__ import annotations

import pytest
import torch

from sana_streaming.models.transformer import SanaStreamingTransformer
from sana_streaming.ops.quant.fp8 import Float8Linear, NVFP4EmulatedLinear, fake_quantize_nvfp4, quantize_rowwise
from sana_streaming.ops.quant.policy import get_policy, quantize_
from tests.conftest import randomize_, small_config


def rel_rms(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).pow(2).mean().sqrt() / b.float().std()).item()


def test_rowwise_fp8_round_trip_error_is_small():
    x = torch.randn(64, 128) * torch.logspace(-2, 2, 64)[:, None]  # rows of very different scales
    values, scale = quantize_rowwise(x)
    assert values.dtype == torch.float8_e4m3fn and scale.shape == (64, 1)
    back = values.float() * scale
    assert ((back - x).abs() / x.abs().amax(dim=1, keepdim=True)).max() < 2**-4  # e4m3: 3 mantissa bits


def test_float8_linear_matches_a_float_linear_closely():
    torch.manual_seed(0)
    linear = torch.nn.Linear(128, 64)
    fp8 = Float8Linear(linear.weight, linear.bias)
    x = torch.randn(3, 10, 128)
    assert rel_rms(fp8(x), linear(x)) < 0.05
    with pytest.raises(ValueError, match="multiples of 16"):
        Float8Linear(torch.randn(10, 128), None)


def test_nvfp4_emulation_uses_16_blocks_of_e2m1():
    x = torch.randn(4, 64)
    q = fake_quantize_nvfp4(x)
    blocks = (q.reshape(-1, 16).abs() / q.reshape(-1, 16).abs().amax(dim=1, keepdim=True).clamp(min=1e-12)) * 6
    allowed = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])
    assert ((blocks[..., None] - allowed).abs().amin(-1) < 0.05).float().mean() > 0.95
    assert rel_rms(q, x) < 0.2


@torch.no_grad()
@pytest.mark.parametrize(("policy", "max_error"), [("fp8", 0.08), ("paper", 0.4)])
def test_policies_quantize_the_named_layers_and_bound_the_error(policy, max_error):
    cfg = small_config(hidden_size=96, mlp_ratio=2.0, depth=8, softmax_layers=(3, 7))
    model = randomize_(SanaStreamingTransformer(cfg)).eval()
    x, src = torch.randn(1, cfg.in_channels, 3, 4, 4), torch.randn(1, cfg.source_channels, 3, 4, 4)
    text = model.encode_text(torch.randn(1, 5, cfg.caption_channels))
    reference = model(x, src, torch.tensor([500.0]), text)
    done = quantize_(model, policy)
    out = model(x, src, torch.tensor([500.0]), text)
    assert 0 < rel_rms(out, reference) < max_error
    assert "blocks.0.attn.output_gate" not in done  # attention gates stay bf16 in every policy
    if policy == "fp8":
        assert set(done.values()) == {"fp8"} and len(done) == 10 * cfg.depth
    else:
        assert done["blocks.2.attn.q"] == "nvfp4" and done["blocks.2.attn.v"] == "fp8"
        assert done["blocks.6.mlp.inverted_conv"] == "nvfp4" and done["blocks.5.mlp.inverted_conv"] == "fp8"
    assert all(type(model.get_submodule(name)).__name__ != "Linear" for name in done)


def test_unknown_policy_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown precision policy 'fp2'; choose one of: bf16, fp8, paper"):
        get_policy("fp2")


def test_policy_files_round_trip_and_bad_files_are_one_line_errors(tmp_path):
    from sana_streaming.ops.quant.policy import POLICIES, Rule, get_policy, save_policy

    path = tmp_path / "searched.json"
    save_policy(POLICIES["paper"], path)
    loaded = get_policy(str(path))
    assert loaded == POLICIES["paper"]
    assert isinstance(loaded.rules[0], Rule)
    bad = tmp_path / "bad.json"
    bad.write_text('{"rules": [{"group": "sa_q", "precision": "int2"}]}')
    with pytest.raises(ValueError, match="unknown group 'sa_q' or precision 'int2'"):
        get_policy(str(bad))
    with pytest.raises(ValueError, match="precision policy file not found"):
        get_policy(str(tmp_path / "missing.json"))
    (tmp_path / "junk.json").write_text("{")
    with pytest.raises(ValueError, match="not a precision policy"):
        get_policy(str(tmp_path / "junk.json"))


def test_nvfp4_rounding_is_nearest_on_the_e2m1_grid_and_exact_in_bf16():
    x = torch.randn(64, 256) * torch.logspace(-3, 2, 256)
    q = fake_quantize_nvfp4(x)
    blocks, qb = x.reshape(-1, 16), q.reshape(-1, 16)
    scale = (blocks.abs().amax(1, keepdim=True) / 6).to(torch.float8_e4m3fn).float().clamp(min=2**-9)
    grid = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])
    distance = ((blocks.abs() / scale)[..., None] - grid).abs()
    nearest = grid[distance.argmin(-1)] * blocks.sign() * scale  # exhaustive search, ties to the smaller
    torch.testing.assert_close(qb, nearest, atol=0, rtol=0)
    assert torch.equal(q.to(torch.bfloat16).float(), q)  # exact in bf16


@torch.no_grad()
def test_quantized_puts_the_original_layers_back():
    from sana_streaming.ops.quant.policy import quantized

    model = randomize_(SanaStreamingTransformer(small_config())).eval()
    before = dict(model.named_modules())
    x, src = torch.randn(1, 8, 3, 4, 4), torch.randn(1, 8, 3, 4, 4)
    text = model.encode_text(torch.randn(1, 6, 24))
    plain = model(x, src, torch.full((1, 3), 0.5), text)
    with quantized(model, "paper") as done:
        assert done and all(isinstance(model.get_submodule(n), (Float8Linear, NVFP4EmulatedLinear)) for n in done)
        changed = model(x, src, torch.full((1, 3), 0.5), text)
    assert dict(model.named_modules()).keys() == before.keys()
    assert all(model.get_submodule(n) is m for n, m in before.items() if n)
    torch.testing.assert_close(model(x, src, torch.full((1, 3), 0.5), text), plain, atol=0, rtol=0)
    assert (changed - plain).abs().max() > 0
