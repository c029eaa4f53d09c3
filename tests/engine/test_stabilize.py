"""The temporal filter on the edit against hand-made cases: still, moving and cut sources, noisy edits."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from sana_streaming.engine.stabilize import TemporalStabilizer, luma


def _texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB texture (flow can follow it), float32 in about [40, 215]."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(40, 215, (height // 8 + 2, width // 8 + 2, 3)).astype(np.float32)
    return cv2.resize(small, (width + 16, height + 16), interpolation=cv2.INTER_CUBIC)


def _frames(texture: np.ndarray, count: int, step: int, height: int, width: int) -> np.ndarray:
    """``count`` crops of ``texture``, moving ``step`` pixels right a frame, (T, H, W, 3) float32."""
    return np.stack([texture[8 : 8 + height, 8 + t * step : 8 + t * step + width] for t in range(count)])


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _moving_clip(height: int, width: int, count: int, seed: int) -> tuple[np.ndarray, torch.Tensor]:
    """Sources moving 2 px a frame, uint8 (T, H, W, 3), and their noisy edits as (T, 3, H, W) float."""
    clean = _frames(_texture(height, width + 2 * count), count, 2, height, width)
    edits = _u8(clean + np.random.default_rng(seed).normal(0, 10, clean.shape))
    return _u8(clean), torch.from_numpy(edits).permute(0, 3, 1, 2).float()


def _run(stabilizer: TemporalStabilizer, sources: np.ndarray, edits: np.ndarray) -> np.ndarray:
    return np.stack([stabilizer(s, e) for s, e in zip(sources, edits, strict=True)]).astype(np.float32)


def test_strength_zero_passes_the_edit_through():
    rng = np.random.default_rng(0)
    sources = rng.integers(0, 256, (4, 24, 32, 3), dtype=np.uint8)
    edits = rng.integers(0, 256, (4, 24, 32, 3), dtype=np.uint8)
    np.testing.assert_array_equal(_run(TemporalStabilizer(0.0), sources, edits), edits)


def test_still_source_averages_frame_noise_as_a_first_order_filter():
    # source still: the source mismatch is 0, so the weight is the strength a everywhere; on i.i.d. noise of
    # std s a recursive filter y = a y' + (1 - a) x leaves std s sqrt((1 - a) / (1 + a)): 1/3 for a = 0.8
    height, width, count = 48, 64, 120
    clean = _texture(height, width)[:height, :width]
    source = np.repeat(_u8(clean)[None], count, 0)
    noise = np.random.default_rng(1).normal(0, 12, (count, height, width, 3)).astype(np.float32)
    out = _run(TemporalStabilizer(0.8), source, _u8(clean + noise))
    steady = out[40:] - clean
    assert abs(steady.std() / noise[40:].std() - 1 / 3) < 0.05
    change_in, change_out = np.abs(np.diff(noise[40:], axis=0)).mean(), np.abs(np.diff(out[40:], axis=0)).mean()
    assert change_out < 0.4 * change_in  # far less flicker


def test_moving_source_is_followed_without_ghosts():
    # the content moves 2 px a frame; the filter must carry the past along the flow: its output stays close
    # to the clean moving edit (a filter that ignored motion would smear it), and its noise falls
    height, width, count = 64, 96, 40
    clean = _frames(_texture(height, width + 2 * 40), count, 2, height, width)
    noise = np.random.default_rng(2).normal(0, 10, clean.shape).astype(np.float32)
    out = _run(TemporalStabilizer(0.8), _u8(clean), _u8(clean + noise))
    inner = (slice(10, None), slice(8, -8), slice(8, -8))  # away from the edges that enter the frame
    error_out = np.abs(out - clean)[inner].mean()
    error_in = np.abs(noise)[inner].mean()
    assert error_out < 0.6 * error_in
    still = _u8(clean + noise).astype(np.float32)  # the same filter without the motion: it smears
    for t in range(1, count):
        still[t] = 0.8 * still[t - 1] + 0.2 * still[t]
    assert error_out < 0.5 * np.abs(still - clean)[inner].mean()


def test_a_scene_cut_passes_the_new_edit_unchanged():
    # after the cut the source is white; before it no pixel was over 215, so wherever the flow carries the past,
    # it lands at least 40 levels off (weight <= 0.8 exp(-(40 / 15)^2) < 1e-3): the new edit passes unchanged
    height, width = 48, 64
    first = np.minimum(_u8(_texture(height, width, 3)[:height, :width]), 215)
    second = np.full((height, width, 3), 255, np.uint8)
    stabilizer = TemporalStabilizer(0.8, tolerance=15.0)
    stabilizer(first, first)
    edit = _u8(_texture(height, width, 5)[:height, :width])
    assert np.abs(stabilizer(second, edit).astype(int) - edit.astype(int)).max() <= 1


def test_wide_frames_take_the_downscaled_flow():
    height, width, count = 64, 640, 12
    clean = _frames(_texture(height, width + 4 * count), count, 4, height, width)
    noise = np.random.default_rng(3).normal(0, 10, clean.shape).astype(np.float32)
    out = _run(TemporalStabilizer(0.8, flow_width=160), _u8(clean), _u8(clean + noise))
    inner = (slice(6, None), slice(8, -8), slice(16, -16))
    assert np.abs(out - clean)[inner].mean() < 0.7 * np.abs(noise)[inner].mean()


def test_a_slower_flow_preset_follows_faster_motion():
    # 14 px a frame over a texture of 8-px cells: DIS's ultrafast preset loses the motion in places (the filter then
    # passes the noisy edit, or carries the wrong past), its medium preset follows it
    height, width, count, step = 96, 128, 16, 14
    clean = _frames(_texture(height, width + step * count), count, step, height, width)
    noise = np.random.default_rng(10).normal(0, 10, clean.shape).astype(np.float32)
    inner = (slice(4, None), slice(8, -8), slice(8, -8 - step))
    errors = {}
    for preset in ("ultrafast", "medium"):
        out = _run(TemporalStabilizer(0.8, flow_preset=preset), _u8(clean), _u8(clean + noise))
        errors[preset] = np.abs(out - clean)[inner].mean()
    assert errors["medium"] < 0.75 * errors["ultrafast"]
    assert errors["medium"] < 0.7 * np.abs(noise)[inner].mean()


def test_chunks_of_any_length_filter_as_frame_after_frame():
    height, width, count = 48, 64, 11
    clean = _frames(_texture(height, width + 3 * count), count, 3, height, width)
    sources = _u8(clean)
    edits = _u8(clean + np.random.default_rng(5).normal(0, 10, clean.shape))
    one_by_one = _run(TemporalStabilizer(0.8), sources, edits)
    stabilizer = TemporalStabilizer(0.8)
    parts = []
    for a, b in ((0, 1), (1, 5), (5, 11)):  # a first frame alone, then chunks
        edit = torch.from_numpy(edits[a:b]).permute(0, 3, 1, 2).float()
        parts.append(stabilizer.chunk(sources[a:b], edit).permute(0, 2, 3, 1).numpy())
    chunked = np.concatenate(parts)
    assert np.abs(chunked - one_by_one).max() <= 0.5 + 1e-3  # frame after frame rounds its output once
    assert np.abs(chunked.round() - one_by_one).mean() < 0.05


def test_the_device_path_filters_as_the_cpu_path():
    # a GPU's edits are warped by torch on the device: run that path here on CPU tensors against OpenCV's
    sources, edits = _moving_clip(48, 64, 9, seed=6)
    cpu = TemporalStabilizer(0.8).chunk(sources, edits)
    device_path = TemporalStabilizer(0.8)
    out = torch.cat(
        [device_path._chunk_torch(sources[:4], edits[:4]), device_path._chunk_torch(sources[4:], edits[4:])]
    )
    difference = (out - cpu).abs()
    assert difference.mean() < 0.01 and difference.max() < 0.05
    assert (out - edits).abs().mean() > 2.0  # and both did filter


def test_reset_forgets_and_bad_settings_are_refused():
    rng = np.random.default_rng(4)
    a, b = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    stabilizer = TemporalStabilizer(0.9)
    stabilizer(a, a)
    stabilizer.reset()
    np.testing.assert_array_equal(stabilizer(a, b), b)  # the first frame of a stream is the edit itself
    with pytest.raises(ValueError, match="differ in shape"):
        stabilizer(a, b[:8])
    with pytest.raises(ValueError, match="strength"):
        TemporalStabilizer(1.0)
    with pytest.raises(ValueError, match="tolerance"):
        TemporalStabilizer(0.5, tolerance=0)
    with pytest.raises(ValueError, match="flow preset must be one of ultrafast, fast, medium"):
        TemporalStabilizer(0.5, flow_preset="slow")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_gpu_edit_is_filtered_on_the_gpu_as_on_the_cpu():
    sources, edits = _moving_clip(64, 96, 8, seed=7)
    cpu = TemporalStabilizer(0.8).chunk(sources, edits)
    gpu = TemporalStabilizer(0.8).chunk(sources, edits.cuda())
    assert gpu.is_cuda
    assert (gpu.cpu() - cpu).abs().max() < 0.05


def test_the_device_luma_is_opencvs():
    frames = np.random.default_rng(8).integers(0, 256, (3, 40, 50, 3), dtype=np.uint8)
    frames[0, 0, :4] = [[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0]]  # the extremes
    gray = luma(torch.from_numpy(frames).permute(0, 3, 1, 2)).numpy()
    np.testing.assert_array_equal(gray, np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]))
