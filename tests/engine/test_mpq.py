"""``mpq-search``: the measured errors, the FLOP accounting and the greedy choice under a budget."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from sana_streaming.cli import main
from sana_streaming.engine import mpq
from sana_streaming.engine.sampler import chunk_boundaries
from sana_streaming.models.transformer import SanaStreamingTransformer
from sana_streaming.ops.quant.policy import POLICIES, QuantPolicy, Rule, get_policy, quantize_
from tests.conftest import randomize_, small_config


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = randomize_(SanaStreamingTransformer(small_config())).eval()
    cal = mpq.synthetic_calibration(model, (4, 6), latent_frames=5, prompts=2, seed=1)
    return model, cal


def test_rel_rmse_is_rmse_over_the_reference_std():
    ref = torch.tensor([1.0, -1.0, 1.0, -1.0])
    assert mpq.rel_rmse(ref, ref) == 0
    assert mpq.rel_rmse(ref + 0.5, ref) == pytest.approx(0.5 / ref.double().std().item(), rel=1e-12)


def test_slots_split_the_blocks_into_ranges():
    slots = mpq.slots_of(20, 3)
    spans = sorted({(s.first_block, s.last_block) for s in slots})
    assert spans == [(0, 6), (7, 13), (14, 19)]
    assert {s.group for s in slots} == set(mpq.SEARCH_GROUPS) and "gates" not in mpq.SEARCH_GROUPS
    assert len(mpq.slots_of(4, 8)) == 4 * len(mpq.SEARCH_GROUPS)  # never an empty range


def test_flop_counts_and_shares(setup):
    model, cal = setup
    flops = mpq.count_linear_flops(model, lambda: mpq.stream_latents(model, cal))
    # a query projection: 2 * tokens * in * out per call; the 5 latent frames are one chunk (the last: 4 steps,
    # no cache refresh), streamed once per prompt
    out_f, in_f = model.blocks[0].attn.q.matrix.shape
    assert chunk_boundaries(cal.noise.shape[2], 3) == [0, 5]
    tokens = cal.noise[0, 0].numel()  # patch size 1
    assert flops["blocks.0.attn.q"] == 2 * tokens * in_f * out_f * 4 * len(cal.prompts)
    assert flops.keys() >= {"blocks.0.mlp.inverted_conv", "blocks.1.mlp.t_conv", "blocks.3.cross_attn.proj"}
    for policy in (POLICIES["fp8"], POLICIES["paper"], QuantPolicy("none", ())):
        shares = mpq.flop_share(flops, policy)
        assert sum(shares.values()) == pytest.approx(1.0, abs=1e-12)
    assert mpq.flop_share(flops, QuantPolicy("none", ()))["bf16"] == pytest.approx(1.0)
    assert mpq.idealized_speedup({"bf16": 0.0, "fp8": 1.0, "nvfp4": 0.0}) == 2.0
    assert mpq.idealized_speedup({"bf16": 0.5, "fp8": 0.0, "nvfp4": 0.5}) == pytest.approx(1 / (0.5 + 0.125))


def test_a_zero_budget_keeps_everything_bf16(setup):
    model, cal = setup
    report = mpq.search(model, cal, precisions=["fp8"], ranges=1, budget=0.0)
    assert report["policy"].rules == () and report["chosen"]["rel_rmse"] == 0
    assert all(c["rel_rmse"] > 0 for c in report["candidates"])  # every quantized slot moves the latents
    assert report["steps"] and not any(step["kept"] for step in report["steps"])
    assert report["chosen"]["idealized_speedup"] == pytest.approx(1.0, abs=1e-12)


def test_an_unbounded_budget_takes_every_slot_at_the_lowest_precision(setup):
    model, cal = setup
    report = mpq.search(model, cal, precisions=["fp8", "nvfp4"], ranges=1, budget=float("inf"))
    chosen = {(r.group, r.first_block, r.last_block): r.precision for r in report["policy"].rules}
    slots = {(c["slot"].split("[")[0], c["precision"]) for c in report["candidates"]}
    assert chosen and set(chosen.values()) == {"nvfp4"}
    assert {g for g, _ in slots} == {g for g, _, _ in chosen}
    shares = report["chosen"]["flop_share"]
    assert shares["fp8"] == 0 and shares["nvfp4"] > 0.8  # only the gates stay bf16


def test_the_default_budget_is_all_fp8_and_the_reported_error_is_reproducible(setup):
    model, cal = setup
    report = mpq.search(model, cal, precisions=["fp8", "nvfp4"], ranges=1)
    assert report["budget"] == report["presets"]["fp8"]["rel_rmse"] > 0
    assert report["chosen"]["rel_rmse"] <= report["budget"]
    assert report["chosen"]["idealized_speedup"] > 1.0
    reference = mpq.stream_latents(model, cal)
    for policy, error in ((report["policy"], report["chosen"]["rel_rmse"]), ("paper", None)):
        trial = copy.deepcopy(model)
        quantize_(trial, policy, nvfp4="emulate")
        measured = mpq.rel_rmse(mpq.stream_latents(trial, cal), reference)
        expected = report["presets"]["paper"]["rel_rmse"] if error is None else error
        assert measured == pytest.approx(expected, rel=1e-9)


def test_bad_precisions_are_refused(setup):
    model, cal = setup
    with pytest.raises(ValueError, match="precisions must be fp8 and/or nvfp4"):
        mpq.search(model, cal, precisions=["int4"])


def test_the_command_writes_a_policy_that_edit_accepts(tmp_path, capsys):
    policy_file, report_file = tmp_path / "policy.json", tmp_path / "report.json"
    args = [
        "mpq-search",
        "--model",
        "tiny",
        "--synthetic",
        "--latent-size",
        "2",
        "2",
        "--frames",
        "33",
        "--ranges",
        "1",
    ]
    args += ["--prompt", "night", "--quiet", "--out-policy", str(policy_file), "--out", str(report_file)]
    assert main(args) == 0
    err, out = capsys.readouterr()[::-1]
    assert "random weights with every layer active" in err and f"policy {policy_file}: RelRMSE" in out
    policy = get_policy(str(policy_file))
    record = json.loads(report_file.read_text())
    assert [f"{r.group}[{r.first_block}-{r.last_block}]: {r.precision}" for r in policy.rules] == record["chosen"][
        "rules"
    ]
    assert record["benchmark"] == "sana-streaming mpq-search" and record["git_commit"]
    assert record["presets"]["fp8"]["rel_rmse"] > 0 and "synthetic" in record["calibration"]
    assert all(isinstance(rule, Rule) for rule in policy.rules)
