"""Edit metrics on hand-made clips whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from sana_streaming.eval import metrics
from sana_streaming.eval.report import evaluate, format_table, plot_curves, to_json


def texture(height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    """A smooth random RGB texture (flow needs structure at several scales)."""
    import cv2

    rng = np.random.default_rng(seed)
    noise = rng.random((height // 4, width // 4, 3)).astype(np.float32) * 255
    return cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)


def panning(frames: int, dx: int, dy: int, height: int = 96, width: int = 128) -> np.ndarray:
    """A camera pan: frame t is a window of a larger texture moved by (t dx, t dy)."""
    big = texture(height + abs(dy) * frames + 8, width + abs(dx) * frames + 8)
    x0, y0 = (abs(dx) * frames if dx < 0 else 0), (abs(dy) * frames if dy < 0 else 0)
    return np.stack([big[y0 + t * dy : y0 + t * dy + height, x0 + t * dx : x0 + t * dx + width] for t in range(frames)])


@pytest.mark.parametrize("flow", metrics.FLOWS)
def test_a_static_video_has_zero_warp_error_and_no_flicker(flow):
    clip = np.repeat(texture()[None], 6, axis=0)
    motion = metrics.SourceMotion.of(clip, method=flow)
    # DIS gives exactly nothing; Farneback's smoothing leaves up to 0.2 px within 8 px of the edges
    border = 8 if flow == "farneback" else 0
    inner = motion.backward[:, border : 96 - border, border : 128 - border]
    assert np.abs(inner).max() < 1e-3 and motion.mask.all()
    np.testing.assert_allclose(metrics.warp_errors(clip, motion), 0, atol=1e-3 if flow == "dis" else 0.05)
    assert metrics.brightness(clip).std() == 0 and metrics.low_pass_changes(clip).max() == 0


@pytest.mark.parametrize("flow", metrics.FLOWS)
def test_a_known_shift_gives_the_expected_flow(flow):
    clip = panning(3, dx=3, dy=-2)  # content moves by (-3, +2) px per frame on screen
    back = metrics.optical_flow(clip[1], clip[0], flow)  # where each pixel of frame 1 was in frame 0
    interior = back[16:-16, 16:-16].reshape(-1, 2)
    np.testing.assert_allclose(np.median(interior, axis=0), [3.0, -2.0], atol=0.1)
    motion = metrics.SourceMotion.of(clip, method=flow)
    assert motion.mask[:, 16:-16, 16:-16].mean() > 0.95
    assert metrics.warp_errors(clip, motion).max() < 2.0  # the pan is followed: only edge and sampling error
    # the motion of the first frames only (a VAE reconstruction of whole chunks may be shorter than the clip)
    head = motion.first(2)
    assert head.backward.shape == (1, 96, 128, 2) and np.array_equal(head.backward[0], motion.backward[0])
    np.testing.assert_array_equal(metrics.warp_errors(clip[:2], head), metrics.warp_errors(clip, motion)[:1])


@pytest.mark.parametrize("flow", metrics.FLOWS)
def test_a_flickering_edit_scores_worse_than_a_stable_one(flow):
    source = panning(12, dx=2, dy=1)
    stable = (255 - source).astype(np.uint8)  # an edit that moves with the source
    gain = 1 + 0.2 * np.where(np.arange(12) % 2, 1, -1)  # the same edit, brightness alternating
    flicker = (stable.astype(np.float32) * gain[:, None, None, None]).clip(0, 255).astype(np.uint8)
    stable_report, flicker_report = evaluate(source, stable, flow=flow), evaluate(source, flicker, flow=flow)
    assert stable_report["flow"] == flow
    s, f = stable_report["summary"]["edited"], flicker_report["summary"]["edited"]
    assert f["warp_error"] > 5 * s["warp_error"]
    assert f["brightness_flicker"] > 10 * max(s["brightness_flicker"], 0.1)
    assert f["low_pass_flicker"] > 2 * s["low_pass_flicker"]


def test_seams_at_chunk_boundaries_raise_the_jump_ratio():
    source = panning(40, dx=1, dy=0)
    boundaries = metrics.chunk_transitions(40, first_chunk=9, chunk=8)
    assert boundaries.tolist() == [8, 16, 24, 32]
    seamed = source.astype(np.float32)
    for start in range(9, 40, 8):  # every chunk a little brighter than the last
        seamed[start:] += 12
    seamed = seamed.clip(0, 255).astype(np.uint8)
    plain = evaluate(source, source, first_chunk=9, chunk=8)["summary"]["edited"]["jump_ratio"]
    seams = evaluate(source, seamed, first_chunk=9, chunk=8)["summary"]["edited"]["jump_ratio"]
    assert 0.5 < plain < 1.5 and seams > 3
    assert np.isnan(metrics.jump_ratio(np.ones(5), np.array([], int)))


def test_psnr_and_ssim_against_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (2, 32, 40, 3)).astype(np.uint8)
    assert np.isinf(metrics.psnr(a, a)).all() and np.allclose(metrics.ssim(a, a), 1)
    b = (a.astype(np.int16) + np.where(rng.random(a.shape) < 0.5, -4, 4)).clip(0, 255).astype(np.uint8)
    mse = np.square(a.astype(float) - b).reshape(2, -1).mean(1)
    np.testing.assert_allclose(metrics.psnr(b, a), 10 * np.log10(255**2 / mse))
    # flat images: SSIM is its luminance term alone, (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)
    flat_x, flat_y = np.full((1, 24, 24, 3), 100, np.uint8), np.full((1, 24, 24, 3), 140, np.uint8)
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 140 + c1) / (100**2 + 140**2 + c1)
    np.testing.assert_allclose(metrics.ssim(flat_x, flat_y), expected, rtol=1e-6)
    np.testing.assert_allclose(metrics.ssim(b, a), metrics.ssim(a, b))
    assert 0 < metrics.ssim(b, a)[0] < 1


def test_scene_cuts_are_found_and_left_out():
    clip = np.concatenate([panning(6, 1, 0), panning(6, 0, 1)[:, ::-1]])  # an unrelated shot from frame 6
    report = evaluate(clip, clip)
    assert report["scene_cut_transitions"] == [5]
    assert report["per_frame"]["warp_error"]["edited"][5] != report["per_frame"]["warp_error"]["edited"][5]  # NaN


def test_the_report_serialises_plots_and_prints(tmp_path):
    source = panning(10, dx=1, dy=1)
    report = evaluate(source, 255 - source, source, first_chunk=5, chunk=4)
    text = to_json(report)
    assert "NaN" not in text and "Infinity" not in text
    assert report["summary"]["fidelity"]["psnr_db"] < 20
    png = plot_curves(report, tmp_path / "curves.png")
    import cv2

    image = cv2.imread(str(png))
    assert image.shape == (5 * 240, 960, 3) and image.min() < 255
    table = format_table(report)
    assert "edited" in table and "reference" in table and "PSNR" in table
    with pytest.raises(ValueError, match="differ in shape"):
        evaluate(source, source[:5])
    with pytest.raises(ValueError, match="flow must be one of dis, farneback"):
        evaluate(source, source, flow="raft")


def test_values_grouped_by_place_in_a_latent_frame():
    # frame 0 is its own latent frame; then 1..4 share one, 5..8 the next, 9..10 begin a third
    values = np.array([99.0, 10, 20, 30, 40, 12, 22, 32, 42, 14, 24])
    by_place = metrics.by_latent_position(values, 4)
    np.testing.assert_allclose(by_place, [12, 22, 31, 41])
    assert np.isnan(metrics.by_latent_position(values[:3], 4)[2:]).all()
