"""The source-guided refinement (engine/guide.py) against a per-pixel least-squares reference and known maps."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sana_streaming.commands.common import guide_radius
from sana_streaming.engine import loading
from sana_streaming.engine.guide import GuidedRefiner, box_mean, guided_filter
from sana_streaming.engine.stabilize import TemporalStabilizer


def test_box_mean_is_the_mean_over_each_window_cut_at_the_edges():
    x = torch.randn(2, 3, 7, 9, dtype=torch.float64)
    got = box_mean(x, 2)
    expected = torch.empty_like(x)
    for i in range(7):
        for j in range(9):
            expected[..., i, j] = x[..., max(i - 2, 0) : i + 3, max(j - 2, 0) : j + 3].mean((-2, -1))
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def _reference(guide: np.ndarray, image: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Per window, the ridge least-squares affine map of the guide's RGB onto the image; per pixel, the mean
    of its windows' maps applied to its guide (loops, no running means)."""
    _, height, width = guide.shape
    maps = np.zeros((height, width, 4, image.shape[0]))
    for i in range(height):
        for j in range(width):
            window = (slice(max(i - radius, 0), i + radius + 1), slice(max(j - radius, 0), j + radius + 1))
            g = guide[:, window[0], window[1]].reshape(3, -1)
            p = image[:, window[0], window[1]].reshape(image.shape[0], -1)
            g_mean, p_mean = g.mean(1, keepdims=True), p.mean(1, keepdims=True)
            sigma = (g - g_mean) @ (g - g_mean).T / g.shape[1] + eps * np.eye(3)
            a = np.linalg.solve(sigma, (g - g_mean) @ (p - p_mean).T / g.shape[1])  # (3, C)
            maps[i, j, :3], maps[i, j, 3] = a, p_mean[:, 0] - g_mean[:, 0] @ a
    out = np.empty_like(image)
    for i in range(height):
        for j in range(width):
            window = (slice(max(i - radius, 0), i + radius + 1), slice(max(j - radius, 0), j + radius + 1))
            mean = maps[window].reshape(-1, 4, image.shape[0]).mean(0)
            out[:, i, j] = guide[:, i, j] @ mean[:3] + mean[3]
    return out


def test_guided_filter_equals_the_per_window_least_squares_reference():
    rng = np.random.default_rng(0)
    guide = rng.uniform(0, 255, (3, 9, 11))
    image = rng.uniform(0, 255, (3, 9, 11))
    got = guided_filter(torch.from_numpy(guide)[None], torch.from_numpy(image)[None], 2, 25.0)[0].double().numpy()
    np.testing.assert_allclose(got, _reference(guide, image, 2, 25.0), rtol=0, atol=2e-3)


def _affine_edit(source: torch.Tensor) -> torch.Tensor:
    """A colour map (a grading with a channel swap and an inversion): edit = A @ source + b per pixel."""
    matrix = torch.tensor([[0.2, 0.5, 0.1], [-0.6, 0.1, 0.0], [0.3, 0.3, 0.4]])
    offset = torch.tensor([10.0, 220.0, -5.0])
    return torch.einsum("ci,tihw->tchw", matrix, source) + offset.view(1, 3, 1, 1)


def test_the_refiner_gives_back_a_colour_map_of_the_source_at_full_sharpness():
    source = torch.rand(2, 3, 64, 96) * 255  # downscaled 6x for the maps (radius 0.25 of 96 pixels: 24)
    edit = _affine_edit(source)
    blurred = torch.nn.functional.avg_pool2d(edit, 5, stride=1, padding=2, count_include_pad=False)
    refined = GuidedRefiner(0.25, eps=1e-3)(source, edit)
    torch.testing.assert_close(refined, edit, rtol=0, atol=0.05)
    # the blurred edit (what a VAE gives back) is sharpened towards the map: two thirds of its error go (the
    # blur takes most of the windows' variance of this noise source, so the fitted maps shrink)
    error_before = (blurred - edit).abs().mean()
    error_after = (GuidedRefiner(0.25, eps=1e-3)(source, blurred) - edit).abs().mean()
    assert error_after < 0.4 * error_before


def test_the_refiner_keeps_a_flat_edit_flat_and_radius_zero_is_off():
    source = torch.rand(3, 3, 32, 48) * 255
    flat = torch.full_like(source, 77.0)
    torch.testing.assert_close(GuidedRefiner(0.1)(source, flat), flat, rtol=0, atol=1e-3)
    edit = torch.rand_like(source) * 255
    assert torch.equal(GuidedRefiner(0.0)(source, edit), edit)
    with pytest.raises(ValueError, match="differ"):
        GuidedRefiner(0.1)(source, edit[:, :, :16])
    with pytest.raises(ValueError, match="fraction of the width"):
        GuidedRefiner(1.5)
    with pytest.raises(ValueError, match="eps must be > 0"):
        GuidedRefiner(0.1, eps=0.0)


def test_guide_radius_argument_errors_in_one_line():
    assert guide_radius("0.0625") == 0.0625 and guide_radius("0") == 0.0
    for bad in ("-0.1", "2", "wide"):
        with pytest.raises(Exception, match="fraction of the frame's width"):
            guide_radius(bad)
    with pytest.raises(ValueError, match="flow preset must be one of ultrafast, fast, medium, got 'slow'"):
        GuidedRefiner(0.02, flow_preset="slow")  # even with the maps' filter off, which would not use it


def test_editor_defaults_come_from_the_model_folder(tmp_path):
    assert loading.editor_defaults(str(tmp_path)) == {}
    assert loading.editor_defaults("tiny") == {}
    (tmp_path / "editor.json").write_text(json.dumps({"guide": 0.05, "stabilize": 0.7}))
    assert loading.editor_defaults(str(tmp_path)) == {"guide": 0.05, "stabilize": 0.7}
    (tmp_path / "editor.json").write_text(json.dumps({"guide": 0.05, "sharpen": 1}))
    with pytest.raises(ValueError, match=r"unknown: \['sharpen'\]"):
        loading.editor_defaults(str(tmp_path))


@pytest.mark.gpu
def test_the_refiner_on_cuda_matches_the_cpu():
    generator = torch.Generator().manual_seed(0)
    source = torch.rand(24, 3, 224, 384, generator=generator) * 255
    edit = torch.nn.functional.avg_pool2d(_affine_edit(source), 9, stride=1, padding=4) + torch.randn(
        24, 3, 224, 384, generator=generator
    )
    for steady in (0.0, 0.9):
        cpu = GuidedRefiner(0.0417, steady=steady)(source.round().to(torch.uint8), edit)
        cuda = GuidedRefiner(0.0417, steady=steady)(source.round().to(torch.uint8).cuda(), edit.cuda()).cpu()
        torch.testing.assert_close(cuda, cpu, rtol=0, atol=0.1)


def test_the_shipped_default_model_turns_the_refinement_on():
    from sana_streaming import hub
    from sana_streaming.engine.editor import EditorConfig
    from sana_streaming.engine.stabilize import FLOW_PRESETS

    if not (hub.DEFAULT_WEIGHTS / "model" / "config.json").is_file():
        pytest.skip("the default model's weights are not in this install")
    settings = loading.editor_defaults("default")
    config = EditorConfig(**settings)
    assert config.guide > 0 and 0 < config.stabilize < 1 and config.flow_preset in FLOW_PRESETS


def _flickering_colour_map(frames: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """A static textured source and its colour map whose gain flickers from frame to frame (a decoder's flicker)."""
    generator = torch.Generator().manual_seed(1)
    coarse = torch.rand(1, 3, 8, 12, generator=generator) * 255
    source = torch.nn.functional.interpolate(coarse, size=(64, 96), mode="bilinear").round().repeat(frames, 1, 1, 1)
    gains = 1 + 0.1 * torch.randn(frames, 1, 1, 1, generator=generator)
    return source.to(torch.uint8), _affine_edit(source) * gains


def test_steady_maps_take_the_flicker_out_of_a_static_scene_and_carry_over_chunks():
    source, edit = _flickering_colour_map()
    plain = GuidedRefiner(0.1)(source, edit)
    steady = GuidedRefiner(0.1, steady=0.9)
    whole = steady(source, edit)
    assert torch.equal(whole[0], plain[0])  # the stream's first frame has no past
    change = lambda frames: (frames[1:] - frames[:-1]).abs().mean()  # noqa: E731
    assert change(whole) < 0.5 * change(plain)
    steady.reset()  # the same stream in two calls (chunks): the past carries over, the output is the same
    parts = torch.cat([steady(source[:5], edit[:5]), steady(source[5:], edit[5:])])
    torch.testing.assert_close(parts, whole, rtol=0, atol=1e-3)
    steady.reset()
    torch.testing.assert_close(steady(source[:5], edit[:5]), whole[:5], rtol=0, atol=1e-3)
    with pytest.raises(ValueError, match=r"steadiness must be within \[0, 1\)"):
        GuidedRefiner(0.1, steady=1.0)


def test_steady_maps_let_a_scene_cut_through():
    source, edit = _flickering_colour_map(4)
    cut = 255 - source[2:]  # frames 2 and 3: another scene (the flow cannot follow the source there)
    source = torch.cat([source[:2], cut])
    edit = torch.cat([edit[:2], _affine_edit(cut.float())])
    plain, steady = GuidedRefiner(0.1)(source, edit), GuidedRefiner(0.1, steady=0.9)(source, edit)
    assert (steady[2] - plain[2]).abs().mean() < 1.0  # the new scene's own maps, not the old scene's


@pytest.mark.parametrize("path", ["cpu", "device"])
def test_the_steady_maps_flows_serve_the_temporal_filter_as_its_own(path):
    generator = torch.Generator().manual_seed(4)
    texture = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 30, generator=generator) * 255, size=(48, 120))
    sources = torch.cat([texture[..., 3 * t : 3 * t + 64] for t in range(10)]).round().to(torch.uint8)  # a pan
    edits = _affine_edit(sources.float()) + 8 * torch.randn(10, 3, 48, 64, generator=generator)
    frames = sources.permute(0, 2, 3, 1).numpy()
    run = TemporalStabilizer.chunk if path == "cpu" else TemporalStabilizer._chunk_torch  # the device path on CPU
    refiner = GuidedRefiner(0.1, steady=0.5)
    own, shared, wrong = TemporalStabilizer(0.8), TemporalStabilizer(0.8), TemporalStabilizer(0.8)
    for a, b in ((0, 4), (4, 10)):  # two chunks of one stream: the past carries over
        refined = refiner(sources[a:b], edits[a:b])
        assert len(refiner.flows) == b - a and (refiner.flows[0] is None) == (a == 0)
        expected = run(own, frames[a:b], refined)
        torch.testing.assert_close(run(shared, frames[a:b], refined, refiner.flows), expected, rtol=0, atol=0)
        still = refiner.flows if a == 0 else [np.zeros_like(f) for f in refiner.flows]  # not the source's motion
        mistaken = run(wrong, frames[a:b], refined, still)
    assert (mistaken - expected).abs().max() > 5  # the flows given are the ones used
