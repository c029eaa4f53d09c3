"""`sana-streaming verify-official` on the recorded fixtures, and on a corrupted copy (it must fail)."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from sana_streaming.cli import main
from tests.conftest import FIXTURES


def test_every_official_case_passes(capsys):
    assert main(["verify-official", str(FIXTURES)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    cases = [line for line in lines if line.startswith(("PASS", "FAIL"))]
    assert len(cases) >= 140
    assert all(line.startswith("PASS") for line in cases)
    names = " ".join(cases)
    for expected in (
        "gdn_op.stateful.state_kv_final",
        "forward_bidir.output",
        "stream.chunk2.step0.v_pred",
        "cache.chunk1.block3.softmax_k",
        "cache.chunk1.block0.gdn_state_kv",
        "cache.chunk0.block7.tconv",
        "stream.latents_out",
        "stream.latents_out_efficient_cache",
    ):
        assert expected in names
    assert lines[-1].endswith("0 failed")


@pytest.fixture
def corrupted_fixtures(tmp_path):
    folder = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, folder)
    stream = load_file(str(folder / "stream.safetensors"))
    stream["chunk1.step2.v_pred"] = stream["chunk1.step2.v_pred"] + 1e-3  # just above the 1e-4 tolerance
    save_file(stream, str(folder / "stream.safetensors"))
    return folder


def test_a_perturbed_recording_fails(corrupted_fixtures, capsys):
    assert main(["verify-official", str(corrupted_fixtures), "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  stream.chunk1.step2.v_pred" in out
    assert out.count("FAIL") == 1
    assert out.strip().splitlines()[-1].endswith("1 failed")


def test_not_a_fixture_folder_is_one_line_error(tmp_path, capsys):
    assert main(["verify-official", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {tmp_path}: not a fixture folder (no fixtures_index.json)"]


def test_wrong_weights_in_the_folder_are_named(tmp_path, capsys):
    folder = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, folder)
    weights = load_file(str(folder / "model.safetensors"))
    weights["blocks.2.attn.v.weight"] = torch.zeros(3, 3, dtype=torch.float16)
    save_file(weights, str(folder / "model.safetensors"))
    assert main(["verify-official", str(folder), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "blocks.2.attn.v.weight (3, 3) (expected (224, 224))" in err
    assert len(err.splitlines()) == 1
