"""The per-family benchmark against editors whose answers are known, and the VAE's reconstruction check."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sana_streaming.eval import metrics
from sana_streaming.eval.families import (
    PSNR_CAP_DB,
    average_draws,
    family_benchmark,
    format_family_table,
    ground_truths,
    vae_reconstruction_psnr,
)
from sana_streaming.vae.autoencoder import VideoAutoencoder
from sana_streaming.vae.config import get_vae_config
from tests.eval.test_metrics import panning

FAMILIES = ["invert", "sepia_film", "blur"]


@pytest.fixture(scope="module")
def clip():
    return panning(17, dx=2, dy=1, height=48, width=64)


def test_a_perfect_editor_meets_every_target(clip):
    truths = ground_truths(clip, FAMILIES, seed=3)
    by_prompt = {prompt: truth for prompt, _, truth in truths.values()}
    result = family_benchmark(lambda frames, prompt: by_prompt[prompt], clip, FAMILIES, seed=3, first_chunk=9, chunk=8)
    assert list(result["families"]) == FAMILIES and result["mean_psnr_db"] == PSNR_CAP_DB
    for row in result["families"].values():
        assert row["ssim"] == pytest.approx(1.0) and row["warp_ratio"] == pytest.approx(1.0)
    assert "mean PSNR: 100.00 (target >= 22: met)" in format_family_table(result)


def test_an_editor_that_changes_nothing_scores_the_clips_own_distance(clip):
    result = family_benchmark(lambda frames, prompt: frames, clip, ["invert"], seed=0, first_chunk=9, chunk=8)
    truth = ground_truths(clip, ["invert"], seed=0)["invert"][2]
    expected = metrics.psnr(clip, truth).mean()
    assert result["families"]["invert"]["psnr_db"] == pytest.approx(expected)
    assert "not met" in format_family_table(result, vae_psnr_db=30.0)


def test_a_clip_of_one_chunk_has_no_jump_ratio_and_says_so(clip):
    # 17 frames in one chunk of 17: no chunk boundary to measure a jump across
    result = family_benchmark(lambda frames, prompt: frames, clip, ["invert"], seed=0, first_chunk=17, chunk=8)
    assert np.isnan(result["worst_jump_ratio"]) and not np.isnan(result["worst_warp_ratio"])
    assert "worst jump ratio: n/a (the clip is too short" in format_family_table(result)


def test_draws_average_each_familys_figures_and_keep_each_draws_summary(clip):
    """Two draws of an editor that does nothing: each family's PSNR is the mean of its two draws' (their
    parameters differ), and the summary is computed from those means as for one draw."""
    seeds = [0, 1]
    draws = [family_benchmark(lambda f, p: f, clip, FAMILIES, seed=s, first_chunk=9, chunk=8) for s in seeds]
    result = average_draws(draws, seeds)
    for name, row in result["families"].items():
        each = [d["families"][name] for d in draws]
        assert row["psnr_db"] == pytest.approx((each[0]["psnr_db"] + each[1]["psnr_db"]) / 2)
        assert row["warp_ratio"] == pytest.approx((each[0]["warp_ratio"] + each[1]["warp_ratio"]) / 2)
        assert row["params"] == [each[0]["params"], each[1]["params"]]
    assert result["families"]["blur"]["params"][0] != result["families"]["blur"]["params"][1]
    assert result["mean_psnr_db"] == pytest.approx(np.mean([d["mean_psnr_db"] for d in draws]))
    worst = max(row["warp_ratio"] for row in result["families"].values())
    assert result["worst_warp_ratio"] == pytest.approx(worst)
    assert [d["seed"] for d in result["draws"]] == seeds
    assert result["draws"][1]["mean_psnr_db"] == draws[1]["mean_psnr_db"]
    with pytest.raises(ValueError, match="2 results for 3 seeds"):
        average_draws(draws, [0, 1, 2])


def test_vae_reconstruction_psnr_matches_a_whole_clip_decode(clip):
    torch.manual_seed(0)
    vae = VideoAutoencoder(get_vae_config("tiny")).eval()
    with torch.no_grad():
        for p in vae.parameters():
            p.copy_(torch.randn_like(p) * 0.05)
        video = torch.from_numpy(clip).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
        whole = vae.decode(vae.encode(video, causal=True), causal=True)[0].clamp(-1, 1)
    decoded = ((whole + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).numpy()
    expected = np.minimum(metrics.psnr(decoded, clip), PSNR_CAP_DB).mean()
    assert vae_reconstruction_psnr(vae, clip, first_chunk=9, chunk=8) == pytest.approx(expected, abs=0.05)
    with pytest.raises(ValueError, match="at least 33"):
        vae_reconstruction_psnr(vae, clip)
