"""run.parallel = "fsdp" (FSDP2) over two gloo processes computes what one process computes with the global
batch, and its checkpoints (whole tensors gathered from the shards) resume exactly."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from safetensors.torch import load_file

from sana_streaming.train.trainer import train
from tests.train.helpers import parts, recipe, run_processes, synthetic_pairs
from tests.train.test_streaming import long_videos, stage_parts, streaming_recipe

STEPS = 4
# bfloat16 keeps 8 bits of mantissa: a loss within 2% of the float32 run's, and weights whose distance from the
# float32 run's is a small part of how far training moved them (measured: 6%; Adam's sign-like first steps amplify
# rounding).
BF16_LOSS_REL, BF16_DRIFT = 2e-2, 0.15


def _bidirectional(out_dir, parallel: str = "fsdp", stop_after: int | None = None) -> list[dict]:
    cfg = recipe(out_dir, run={"steps": STEPS, "parallel": parallel})
    return train(cfg, dataset=synthetic_pairs(4), progress=False, stop_after=stop_after, **parts())


def _bidirectional_interrupted(out_dir) -> list[dict]:
    """Two steps, a checkpoint, then a fresh model resumed from it for the rest."""
    return _bidirectional(out_dir, stop_after=2) + _bidirectional(out_dir)


def test_fsdp_bidirectional_equals_one_process_and_resumes_exactly(tmp_path):
    torch.set_num_threads(1)
    single = _bidirectional(tmp_path / "one")
    rows = run_processes(_bidirectional_interrupted, 2, tmp_path / "two")
    assert [r["step"] for r in rows] == list(range(STEPS))
    for a, b in zip(single, rows, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-5)
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-4)
    # the exported EMA weights (gathered from the shards) and the last checkpoint (model, optimizer, EMA)
    expected = load_file(str(tmp_path / "one" / "final" / "model.safetensors"))
    got = load_file(str(tmp_path / "two" / "final" / "model.safetensors"))
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, atol=1e-5, rtol=1e-4, msg=key)
    final = f"checkpoints/step_{STEPS:07d}"
    state_one = torch.load(tmp_path / "one" / final / "state.pt", weights_only=True)["stage"]
    state_two = torch.load(tmp_path / "two" / final / "state.pt", weights_only=True)["stage"]
    for key, value in state_one["ema"]["shadow"].items():
        torch.testing.assert_close(state_two["ema"]["shadow"][key], value, atol=1e-5, rtol=1e-4, msg=key)
    moments_one = [s["exp_avg_sq"] for s in state_one["optimizer"]["state"].values()]
    moments_two = [s["exp_avg_sq"] for s in state_two["optimizer"]["state"].values()]  # keyed by name
    assert len(moments_two) == len(moments_one)
    assert sum(float(m.sum()) for m in moments_two) == pytest.approx(sum(float(m.sum()) for m in moments_one), rel=1e-4)


def _bidirectional_bf16(out_dir) -> list[dict]:
    # with activation checkpointing, as the 2B recipes train: the recomputed forward must see what the first saw
    run = {"steps": STEPS, "parallel": "fsdp", "fsdp_param_dtype": "bfloat16", "grad_checkpointing": True}
    cfg = recipe(out_dir, run=run)
    stage_parts = parts()
    seen: list[torch.dtype] = []  # the RoPE table's dtype as block 0 receives it (after FSDP2's own pre-hook)
    stage_parts["model"].blocks[0].register_forward_pre_hook(lambda module, args: seen.append(args[2].rope[0].dtype))
    rows = train(cfg, dataset=synthetic_pairs(4), progress=False, **stage_parts)
    return {"rows": rows, "rope_dtypes": seen}


def test_fsdp_bfloat16_gathers_track_float32_and_keep_float32_weights(tmp_path):
    """fsdp_param_dtype = "bfloat16": the forward and backward run on bfloat16 copies of the weights (so the
    losses differ from float32 by bfloat16 rounding, not more), the shards and the export stay float32; with
    activation checkpointing the recomputed forward sees the inputs the first one saw."""
    torch.set_num_threads(1)
    single = _bidirectional(tmp_path / "one")
    result = run_processes(_bidirectional_bf16, 2, tmp_path / "two")
    rows = result["rows"]
    # the blocks get the RoPE tables in float32, in the forward pass and in its recomputation alike (torch 2.11's
    # FSDP2 cast block inputs in the first and not the second: activation checkpointing then failed)
    assert len(result["rope_dtypes"]) == 2 * STEPS and set(result["rope_dtypes"]) == {torch.float32}
    assert [r["step"] for r in rows] == list(range(STEPS))
    for a, b in zip(single, rows, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=BF16_LOSS_REL)
    # the weights were really gathered in bfloat16 (step 0 may agree exactly: the output layer starts at zero)
    assert any(b["loss"] != a["loss"] for a, b in zip(single[1:], rows[1:], strict=True))
    expected = load_file(str(tmp_path / "one" / "final" / "model.safetensors"))
    got = load_file(str(tmp_path / "two" / "final" / "model.safetensors"))
    assert {v.dtype for v in got.values()} == {torch.float32}
    # the bfloat16 run's weights moved from the start as the float32 run's did, up to a small part of the move
    start = parts()["model"].state_dict()
    moved = sum(float((v - start[k]).abs().sum()) for k, v in expected.items())
    drift = sum(float((got[k] - v).abs().sum()) for k, v in expected.items())
    assert moved > 0 and drift < BF16_DRIFT * moved


def _bidirectional_kept_gathered(out_dir) -> dict:
    run = {"steps": STEPS, "parallel": "fsdp", "fsdp_reshard_after_forward": False, "grad_checkpointing": True}
    stage_parts = parts()
    rows = train(recipe(out_dir, run=run), dataset=synthetic_pairs(4), progress=False, **stage_parts)
    group = stage_parts["model"].blocks[0]._get_fsdp_state()._fsdp_param_group  # FSDP2 internals, read only
    return {"rows": rows, "kept": group.post_forward_mesh_info is None}


def test_fsdp_keeping_gathered_weights_for_the_backward_computes_the_same(tmp_path):
    """run.fsdp_reshard_after_forward = false (no second gather in the backward, activations recomputed)."""
    torch.set_num_threads(1)
    single = _bidirectional(tmp_path / "one")
    result = run_processes(_bidirectional_kept_gathered, 2, tmp_path / "two")
    assert result["kept"]  # the blocks really keep their gathered weights after the forward
    for a, b in zip(single, result["rows"], strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-5)
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-4)


def _streaming(out_dir) -> list[dict]:
    cfg = streaming_recipe(out_dir)
    cfg = dataclasses.replace(
        cfg,
        run=dataclasses.replace(cfg.run, parallel="fsdp", steps=2),
        data=dataclasses.replace(cfg.data, batch_size=2),
    )
    return train(cfg, dataset=long_videos(2), progress=False, **stage_parts())


def test_fsdp_streaming_stage_equals_one_process(tmp_path):
    torch.set_num_threads(1)
    single = _streaming(tmp_path / "one")
    rows = run_processes(_streaming, 2, tmp_path / "two")
    for a, b in zip(single, rows, strict=True):
        for key in ("loss_dmd", "loss_critic", "loss_reverse", "grad_norm"):
            assert b[key] == pytest.approx(a[key], rel=1e-4), key
    expected = load_file(str(tmp_path / "one" / "final" / "model.safetensors"))
    got = load_file(str(tmp_path / "two" / "final" / "model.safetensors"))
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, atol=1e-5, rtol=1e-4, msg=key)


def _first_two_steps(out_dir) -> list[dict]:
    return _bidirectional(out_dir, stop_after=2)


def test_fsdp_checkpoints_resume_on_another_number_of_processes(tmp_path):
    """Checkpoints hold whole tensors: two processes stop after two steps, one process finishes the run, and the
    losses are those of one uninterrupted process."""
    torch.set_num_threads(1)
    single = _bidirectional(tmp_path / "one")
    rows = run_processes(_first_two_steps, 2, tmp_path / "moved") + _bidirectional(tmp_path / "moved")
    assert [r["step"] for r in rows] == list(range(STEPS))
    for a, b in zip(single, rows, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-5)
        assert b["grad_norm"] == pytest.approx(a["grad_norm"], rel=1e-4)
