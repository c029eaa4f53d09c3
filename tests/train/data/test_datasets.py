"""Datasets: item layout, aligned source/edited crops, windows, buckets, (seed, epoch) determinism, skipping short
clips; the long-video dataset; collate and the bucket sampler."""

import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from sana_streaming.io import fit_frame, open_source
from sana_streaming.train.data.datasets import BucketBatchSampler, LongVideoDataset, PairClipDataset, collate
from sana_streaming.train.data.edits import FAMILIES
from sana_streaming.train.data.make_pairs import make_long_manifest
from sana_streaming.train.data.manifest import ManifestError, PairRecord, read_manifest, write_manifest
from sana_streaming.train.data.video import write_lossless
from tests.train.data.conftest import PAIR_FRAMES
from tests.train.data.synthetic import moving_clip, sample_clip

# Edits that act on each pixel alone, so they commute with cropping (and, up to rounding, with resizing).
POINTWISE = ("black_and_white", "invert")
# Resizing then editing vs editing then resizing: rounding and clipping differ by a level or two (measured: mean
# 0.13-0.19, max 2).
RESIZE_MEAN_LEVELS, RESIZE_MAX_LEVELS = 0.5, 4


def to_uint8(clip: torch.Tensor) -> np.ndarray:
    """(3, T, H, W) float in [-1, 1] -> (T, H, W, 3) uint8."""
    return ((clip.permute(1, 2, 3, 0).numpy() + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)


def write_pairs(folder, specs) -> str:
    """A manifest of black-and-white pairs of synthetic moving clips; specs: [((width, height), num_frames)]."""
    family, records = FAMILIES["black_and_white"], []
    params = family.sample_params(np.random.default_rng(0))
    for i, (size, num_frames) in enumerate(specs):
        clip = moving_clip(num_frames, size, seed=i)
        source = write_lossless(folder / f"{i}_source.mkv", clip, 16)
        edited = write_lossless(folder / f"{i}_edited.mkv", family.apply(clip, params), 16)
        prompts = ("make it black and white", "add colour")
        records.append(PairRecord(str(source), str(edited), *prompts, 16.0, family=family.name, params=params))
    return write_manifest(folder / "manifest.jsonl", records)


def test_item_layout(pairs_manifest):
    dataset = PairClipDataset(pairs_manifest, num_frames=PAIR_FRAMES, buckets=((80, 48),))
    records = read_manifest(pairs_manifest)
    assert len(dataset) == len(records)
    item = dataset[3]
    for key in ("source", "edited"):
        clip = item[key]
        assert clip.shape == (3, PAIR_FRAMES, 48, 80) and clip.dtype == torch.float32 and clip.is_contiguous()
        assert torch.isfinite(clip).all() and clip.min() >= -1.0 and clip.max() <= 1.0
    assert (item["prompt"], item["reverse_prompt"], item["family"]) == (
        records[3].prompt,
        records[3].reverse_prompt,
        records[3].family,
    )


@pytest.mark.parametrize("num_frames", [16, 0, 8])
def test_num_frames_must_be_one_plus_eight_k(pairs_manifest, num_frames):
    with pytest.raises(ValueError, match="num_frames must be"):
        PairClipDataset(pairs_manifest, num_frames=num_frames)
    with pytest.raises(ValueError) as info:
        PairClipDataset(pairs_manifest, num_frames=16)
    assert str(info.value) == "num_frames must be 1 + 8k (the autoencoder's temporal stride), got 16; use 9 or 17"


def test_crops_are_aligned_exactly_without_resizing(pairs_manifest):
    # A 0.5 crop of a 96x64 clip is 48x32, the bucket's size: no resampling, so pointwise edits commute exactly.
    dataset = PairClipDataset(pairs_manifest, num_frames=PAIR_FRAMES, buckets=((48, 32),), crop_scale=(0.5, 0.5))
    checked = 0
    for index, record in enumerate(dataset.clips):
        if record.record.family in POINTWISE:
            item = dataset[index]
            edit = FAMILIES[item["family"]].apply(to_uint8(item["source"]), record.record.params)
            assert np.array_equal(edit, to_uint8(item["edited"]))
            checked += 1
    assert checked >= 2


def test_crops_are_aligned_after_resizing(pairs_manifest):
    dataset = PairClipDataset(pairs_manifest, num_frames=PAIR_FRAMES, buckets=((72, 40),), crop_scale=(0.6, 0.9))
    for epoch in range(2):
        dataset.set_epoch(epoch)
        for index, clip in enumerate(dataset.clips):
            if clip.record.family == "black_and_white":
                item = dataset[index]
                edit = FAMILIES["black_and_white"].apply(to_uint8(item["source"]), clip.record.params)
                error = np.abs(edit.astype(np.int16) - to_uint8(item["edited"]))
                assert error.mean() <= RESIZE_MEAN_LEVELS and error.max() <= RESIZE_MAX_LEVELS


def test_buckets_follow_aspect_ratio(tmp_path):
    manifest = write_pairs(tmp_path, [((96, 64), 9), ((64, 96), 9), ((70, 72), 9), ((120, 40), 9)])
    buckets = ((80, 48), (48, 80), (64, 64))
    dataset = PairClipDataset(manifest, num_frames=9, buckets=buckets)
    assert dataset.bucket_ids == [0, 1, 2, 0]
    for index, bucket in enumerate(dataset.bucket_ids):
        width, height = buckets[bucket]
        assert dataset[index]["source"].shape == (3, 9, height, width)


def test_windows_and_crops_depend_only_on_seed_epoch_and_index(tmp_path):
    frames = moving_clip(30, (96, 64))
    manifest = write_pairs(tmp_path, [((96, 64), 30)] * 3)
    one = PairClipDataset(manifest, num_frames=9, buckets=((96, 64),), seed=5)
    two = PairClipDataset(manifest, num_frames=9, buckets=((96, 64),), seed=5)
    first = [one[i]["source"] for i in range(3)]
    assert all(torch.equal(first[i], two[i]["source"]) for i in range(3))
    one.set_epoch(1)
    later = [one[i]["source"] for i in range(3)]
    assert not all(torch.equal(a, b) for a, b in zip(first, later, strict=True))
    one.set_epoch(0)
    assert all(torch.equal(first[i], one[i]["source"]) for i in range(3))
    other = PairClipDataset(manifest, num_frames=9, buckets=((96, 64),), seed=6)
    assert not all(torch.equal(first[i], other[i]["source"]) for i in range(3))
    # With the full-frame crop the window is 9 consecutive frames of the clip, starting anywhere valid.
    full = PairClipDataset(manifest, num_frames=9, buckets=((96, 64),), crop_scale=(1.0, 1.0))
    starts = set()
    for epoch in range(6):
        full.set_epoch(epoch)
        window = to_uint8(full[0]["source"])
        start = next(s for s in range(22) if np.array_equal(window[0], frames[s]))
        assert np.array_equal(window, frames[start : start + 9])
        starts.add(start)
    assert len(starts) > 1


def test_short_clips_are_skipped_with_a_warning(tmp_path):
    manifest = write_pairs(tmp_path, [((64, 48), 20), ((64, 48), 5)])
    with pytest.warns(UserWarning, match=r"skipping 1 clips shorter than 9 frames: .*1_source\.mkv \(5 frames\)"):
        dataset = PairClipDataset(manifest, num_frames=9, buckets=((64, 48),))
    assert len(dataset) == 1
    with pytest.raises(IndexError, match="index 1 out of range for a dataset of 1 clips"):
        dataset[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ManifestError, match="has no clip of at least 25 frames"):
            PairClipDataset(manifest, num_frames=25)


def test_long_video_dataset(tmp_path):
    video = sample_clip("carphone_pristine.mp4")
    manifest = make_long_manifest([video], tmp_path / "long.jsonl", families=["night"])
    dataset = LongVideoDataset(manifest, num_frames=9, size=(64, 48), seed=1)
    item = dataset[0]
    assert item["video"].shape == (3, 9, 48, 64) and item["video"].dtype == torch.float32
    assert item["prompt"] in FAMILIES["night"].prompts and item["family"] == "night"
    reference = [fit_frame(frame.image, (64, 48), "crop") for frame in open_source(video, fps=16)]
    window = to_uint8(item["video"])
    start = next(s for s in range(len(reference)) if np.array_equal(window[0], reference[s]))
    assert np.array_equal(window, np.stack(reference[start : start + 9]))
    assert torch.equal(LongVideoDataset(manifest, num_frames=9, size=(64, 48), seed=1)[0]["video"], item["video"])
    too_long = pytest.raises(ManifestError, match="has no video of at least 81 frames at 16 fps")
    with pytest.warns(UserWarning, match="skipping 1 clips shorter than 81 frames"), too_long:
        LongVideoDataset(manifest, num_frames=81)


def test_collate_stacks_one_bucket_and_lists_strings(tmp_path):
    manifest = write_pairs(tmp_path, [((96, 64), 9), ((96, 64), 9), ((64, 96), 9)])
    dataset = PairClipDataset(manifest, num_frames=9, buckets=((80, 48), (48, 80)))
    batch = collate([dataset[0], dataset[1]])
    assert batch["source"].shape == (2, 3, 9, 48, 80) and batch["prompt"] == ["make it black and white"] * 2
    with pytest.raises(ValueError, match=r"cannot stack 'source' of shapes .*the batch mixes resolution buckets"):
        collate([dataset[0], dataset[2]])


def test_bucket_batch_sampler():
    class Fake:
        def __init__(self):
            self.bucket_ids = [0, 1, 0, 2, 1, 0, 0, 1, 2, 0]

        def __len__(self):
            return len(self.bucket_ids)

    data = Fake()
    sampler = BucketBatchSampler(data, batch_size=2, seed=3)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 3 + 2 + 1
    assert sorted(i for batch in batches for i in batch) == list(range(10))
    assert all(len({data.bucket_ids[i] for i in batch}) == 1 for batch in batches)
    assert list(sampler) == batches  # same epoch, same order
    sampler.set_epoch(1)
    assert list(sampler) != batches
    dropped = list(BucketBatchSampler(data, batch_size=2, drop_last=True))
    assert all(len(batch) == 2 for batch in dropped) and len(dropped) == 2 + 1 + 1
    ordered = list(BucketBatchSampler(data, batch_size=4, shuffle=False))
    assert ordered == [[0, 2, 5, 6], [9], [1, 4, 7], [3, 8]]
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        BucketBatchSampler(data, batch_size=0)


def test_dataloader_epoch(tmp_path):
    manifest = write_pairs(tmp_path, [((96, 64), 9)] * 3 + [((64, 96), 9)] * 2)
    dataset = PairClipDataset(manifest, num_frames=9, buckets=((80, 48), (48, 80)))
    loader = DataLoader(dataset, batch_sampler=BucketBatchSampler(dataset, 2), collate_fn=collate)
    shapes = sorted(tuple(batch["edited"].shape) for batch in loader)
    assert shapes == [(1, 3, 9, 48, 80), (2, 3, 9, 48, 80), (2, 3, 9, 80, 48)]


def test_item_in_an_epoch_equals_indexing_after_set_epoch_and_changes_nothing(tmp_path):
    manifest = write_pairs(tmp_path, [((96, 64), 30)] * 2)
    dataset = PairClipDataset(manifest, num_frames=9, buckets=((80, 48),), seed=3)
    drawn = dataset.item(1, 4)["source"]
    assert dataset.epoch == 0
    dataset.set_epoch(4)
    assert torch.equal(drawn, dataset[1]["source"])


def test_the_uint8_resize_stays_within_rounding_of_a_float_resize():
    """crop_to_tensor resizes uint8 frames (rounded after each of the two passes); against float32 bicubic on a
    smooth image it differs by the two roundings at most (measured 1.06 levels)."""
    from sana_streaming.train.data.datasets import crop_to_tensor

    ys, xs = np.mgrid[0:90, 0:150]
    smooth = 127.5 + 100 * np.sin(xs / 17.0)[..., None] * np.cos(ys[..., None] / 23.0 + np.arange(3))
    frames = np.stack([np.roll(smooth, t, axis=1) for t in range(3)]).round().astype(np.uint8)
    got = to_uint8(crop_to_tensor(frames, (5, 7, 120, 70), (96, 56))).astype(float)
    crop = torch.from_numpy(frames[:, 7:77, 5:125]).permute(0, 3, 1, 2).float()
    want = torch.nn.functional.interpolate(crop, size=(56, 96), mode="bicubic", antialias=True, align_corners=False)
    want = want.clamp(0, 255).permute(0, 2, 3, 1).numpy()
    assert got.shape == want.shape and np.abs(got - want).max() <= 1.5


def owner(frame: np.ndarray, candidates, clips) -> int:
    """The first of ``candidates`` whose clip holds ``frame``."""
    return next(c for c in candidates if any(np.array_equal(frame, other) for other in clips[c]))


def test_scene_cuts_splice_another_clips_window_into_source_and_edit_alike(tmp_path):
    manifest = write_pairs(tmp_path, [((96, 64), 30), ((96, 64), 30), ((64, 96), 30)])
    clips = [moving_clip(30, (96, 64), seed=i) for i in range(2)]
    dataset = PairClipDataset(
        manifest, num_frames=17, buckets=((96, 64), (64, 96)), crop_scale=(1.0, 1.0), cut_prob=1.0
    )
    cuts = set()
    for epoch in range(4):
        dataset.set_epoch(epoch)
        for index in (0, 1):
            item = dataset[index]
            source = to_uint8(item["source"])
            # each frame comes from one of the two clips of its bucket: its own, then (from the cut on) the other's
            owners = [
                next(c for c in (index, 1 - index) if any(np.array_equal(f, g) for g in clips[c])) for f in source
            ]
            cut = owners.index(1 - index)
            assert 0 < cut < 17 and owners == [index] * cut + [1 - index] * (17 - cut)
            cuts.add(cut)
            # the edit is cut at the same frame: black and white of the spliced source, frame by frame
            edit = FAMILIES["black_and_white"].apply(source, dataset.clips[0].record.params)
            assert np.array_equal(edit, to_uint8(item["edited"]))
        # the clip alone in its bucket has no partner of its size: never cut
        assert dataset[2]["source"].shape == (3, 17, 96, 64)
    assert len(cuts) > 1
    assert not PairClipDataset(manifest, num_frames=17, buckets=((96, 64),), crop_scale=(1.0, 1.0)).cut_prob
    with pytest.raises(ValueError, match="cut_prob"):
        PairClipDataset(manifest, num_frames=17, cut_prob=1.5)
