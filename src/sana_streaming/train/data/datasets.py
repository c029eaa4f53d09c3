"""PyTorch datasets over training manifests: aligned (source, edited) clip windows for stage 1, windows of long
videos for stage 2. Items are (3, T, H, W) float32 in [-1, 1].

Every random choice of item ``i`` comes from (seed, epoch, i), so an item is the same in any worker and on any
rank. ``set_epoch`` changes the draws; with a DataLoader call it before creating the epoch's iterator (workers
copy the dataset then, unless ``persistent_workers``).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from sana_streaming.io import fit_frame
from sana_streaming.io.frames import VideoError, check_size
from sana_streaming.train.data.batching import BucketBatchSampler, collate
from sana_streaming.train.data.manifest import LongRecord, ManifestError, PairRecord, read_manifest
from sana_streaming.train.data.video import count_at_rate, probe, read_window

__all__ = ["BucketBatchSampler", "LongVideoDataset", "PairClipDataset", "closest_bucket", "collate"]

# The video autoencoder compresses time 8x after the first frame.
TEMPORAL_STRIDE = 8
# Names listed in a "skipped" warning before it says "and N more".
_MAX_NAMED = 5


@dataclass(frozen=True)
class _PairClip:
    record: PairRecord
    size: tuple[int, int]  # (width, height)
    num_frames: int  # frames in [start, end)


class PairClipDataset(Dataset):
    """Random aligned windows of paired clips.

    Item ``i``: a window of ``num_frames`` consecutive frames inside the record's [start, end), the same random
    crop of source and edit (the aspect ratio of the bucket closest to the clip's, ``crop_scale`` times the
    largest such crop, anywhere in the frame), resized (antialiased bicubic) to that bucket.

    Args:
        manifest: a manifest of PairRecords (LongRecords in it are ignored).
        num_frames: T, 1 + 8k.
        buckets: (width, height) resolutions; a clip goes to the one closest in aspect ratio.
        seed: seed of the windows and crops.
        crop_scale: (low, high) range of the crop's side relative to the largest crop, within (0, 1].
        cut_prob: probability that the window cuts, at a random frame after the first, to another clip's window
            (its own crop): a scene cut, as real footage has. Source and edit cut at the same frame.

    Item:
        dict(source=(3, T, H, W) float32 in [-1, 1], edited=same, prompt=str, reverse_prompt=str, family=str).
    """

    def __init__(
        self,
        manifest: str | os.PathLike,
        *,
        num_frames: int = 17,
        buckets: Sequence[tuple[int, int]] = ((384, 224),),
        seed: int = 0,
        crop_scale: tuple[float, float] = (0.8, 1.0),
        cut_prob: float = 0.0,
    ) -> None:
        if not 0 <= cut_prob <= 1:
            raise ValueError(f"cut_prob must be within [0, 1], got {cut_prob!r}")
        self.cut_prob = float(cut_prob)
        self.num_frames = check_num_frames(num_frames)
        self.buckets = _check_buckets(buckets)
        self.crop_scale = _check_crop_scale(crop_scale)
        self.seed, self.epoch = seed, 0
        records = [r for r in read_manifest(manifest) if isinstance(r, PairRecord)]
        if not records:
            raise ManifestError(f"manifest {manifest} has no pair records")
        clips = [_probe_pair(record) for record in records]
        self.clips = [clip for clip in clips if clip.num_frames >= num_frames]
        _warn_skipped([(c.record.source, c.num_frames) for c in clips if c.num_frames < num_frames], num_frames)
        if not self.clips:
            raise ManifestError(f"manifest {manifest} has no clip of at least {num_frames} frames")
        self.bucket_ids = [closest_bucket(clip.size, self.buckets) for clip in self.clips]

    def set_epoch(self, epoch: int) -> None:
        """Draw different windows and crops (deterministically) in this epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict:
        return self.item(index, self.epoch)

    def item(self, index: int, epoch: int) -> dict:
        """Item ``index`` as drawn in ``epoch`` (no state changed: safe from several threads at once)."""
        index = _check_index(index, len(self))
        rng = np.random.default_rng([self.seed, int(epoch), index])
        source, edited = self._window(index, rng)
        record = self.clips[index].record
        if self.cut_prob and rng.random() < self.cut_prob:  # to a clip of the same bucket (same size), if any
            partners = [j for j, b in enumerate(self.bucket_ids) if b == self.bucket_ids[index] and j != index]
            if partners:
                other = partners[int(rng.integers(len(partners)))]
                cut = int(rng.integers(1, self.num_frames))
                other_source, other_edited = self._window(other, rng)
                source[:, cut:], edited[:, cut:] = other_source[:, cut:], other_edited[:, cut:]
        return {
            "source": source,
            "edited": edited,
            "prompt": record.prompt,
            "reverse_prompt": record.reverse_prompt,
            "family": record.family,
        }

    def _window(self, index: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A random window and crop of clip ``index``: (source, edited), each (3, T, H, W) in [-1, 1]."""
        clip, bucket = self.clips[index], self.buckets[self.bucket_ids[index]]
        first = clip.record.start + int(rng.integers(0, clip.num_frames - self.num_frames + 1))
        box = random_crop_box(clip.size, bucket, self.crop_scale, rng)
        record = clip.record
        source = read_window(record.source, first, self.num_frames, record.fps)
        edited = read_window(record.edited, first, self.num_frames, record.fps)
        if source.shape != edited.shape:
            raise VideoError(f"{record.edited} is {edited.shape[1:3]} (H, W) but its source is {source.shape[1:3]}")
        return crop_to_tensor(source, box, bucket), crop_to_tensor(edited, box, bucket)


class LongVideoDataset(Dataset):
    """Random windows of long videos, resampled to ``fps`` and fitted to ``size`` (cover, centre crop).

    Args:
        manifest: a manifest of LongRecords (PairRecords in it are ignored).
        num_frames: T, 1 + 8k.
        size: (width, height) of the frames.
        seed: seed of the windows.
        fps: the rate the videos are read at.

    Item:
        dict(video=(3, T, H, W) float32 in [-1, 1], prompt=str, reverse_prompt=str, family=str).
    """

    def __init__(
        self,
        manifest: str | os.PathLike,
        *,
        num_frames: int = 17,
        size: tuple[int, int] = (384, 224),
        seed: int = 0,
        fps: float = 16.0,
    ) -> None:
        self.num_frames = check_num_frames(num_frames)
        self.size = check_size(size)
        self.buckets = (self.size,)
        self.seed, self.epoch, self.fps = seed, 0, fps
        records = [r for r in read_manifest(manifest) if isinstance(r, LongRecord)]
        if not records:
            raise ManifestError(f"manifest {manifest} has no long-video records")
        lengths = [count_at_rate(record.video, fps) or 0 for record in records]
        self.records = [r for r, n in zip(records, lengths, strict=True) if n >= num_frames]
        self.lengths = [n for n in lengths if n >= num_frames]
        _warn_skipped([(r.video, n) for r, n in zip(records, lengths, strict=True) if n < num_frames], num_frames)
        if not self.records:
            raise ManifestError(f"manifest {manifest} has no video of at least {num_frames} frames at {fps:g} fps")
        self.bucket_ids = [0] * len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Draw different windows (deterministically) in this epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        return self.item(index, self.epoch)

    def item(self, index: int, epoch: int) -> dict:
        """Item ``index`` as drawn in ``epoch`` (no state changed: safe from several threads at once)."""
        index = _check_index(index, len(self))
        record = self.records[index]
        rng = np.random.default_rng([self.seed, int(epoch), index])
        start = int(rng.integers(0, self.lengths[index] - self.num_frames + 1))
        frames = read_window(record.video, start, self.num_frames, self.fps)
        fitted = np.stack([fit_frame(image, self.size, "crop") for image in frames])
        width, height = self.size
        return {
            "video": crop_to_tensor(fitted, (0, 0, width, height), self.size),
            "prompt": record.prompt,
            "reverse_prompt": record.reverse_prompt,
            "family": record.family,
        }


def closest_bucket(size: tuple[int, int], buckets: Sequence[tuple[int, int]]) -> int:
    """Index of the bucket whose aspect ratio is closest to ``size``'s (in log ratio; the first on ties)."""
    aspect = math.log(size[0] / size[1])
    return min(range(len(buckets)), key=lambda i: abs(math.log(buckets[i][0] / buckets[i][1]) - aspect))


def random_crop_box(
    size: tuple[int, int], bucket: tuple[int, int], scale: tuple[float, float], rng: np.random.Generator
) -> tuple[int, int, int, int]:
    """(left, top, width, height) of a random crop of a ``size`` frame with the bucket's aspect ratio, its side
    ``scale`` times the largest such crop's."""
    width, height = size
    full_w = min(width, height * bucket[0] / bucket[1])
    factor = rng.uniform(*scale)
    crop_w = min(width, max(1, round(full_w * factor)))
    crop_h = min(height, max(1, round(full_w * bucket[1] / bucket[0] * factor)))
    left, top = int(rng.integers(0, width - crop_w + 1)), int(rng.integers(0, height - crop_h + 1))
    return left, top, crop_w, crop_h


def crop_to_tensor(frames: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]) -> torch.Tensor:
    """Crop (T, H, W, 3) uint8 frames to ``box`` (left, top, width, height), resize to ``size`` (width, height)
    with antialiased bicubic, and return (3, T, height, width) float32 in [-1, 1].

    The resize runs on the uint8 frames (PyTorch's channels-last uint8 kernel, about 9x faster than float32;
    the result rounded to 8 bits like any decoded frame), and the float conversion comes last."""
    left, top, crop_w, crop_h = box
    crop = np.ascontiguousarray(frames[:, top : top + crop_h, left : left + crop_w])
    clip = torch.from_numpy(crop).permute(0, 3, 1, 2)  # (T, 3, h, w) uint8, channels-last in memory
    if (crop_w, crop_h) != tuple(size):
        clip = F.interpolate(clip, size=(size[1], size[0]), mode="bicubic", antialias=True, align_corners=False)
    return clip.permute(1, 0, 2, 3).contiguous().float().div_(127.5).sub_(1.0)


def check_num_frames(num_frames: int) -> int:
    """``num_frames`` if it is 1 + 8k (what the video autoencoder takes), else a one-line ValueError."""
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"num_frames must be a positive int of the form 1 + 8k (9, 17, 25, ...), got {num_frames!r}")
    if (num_frames - 1) % TEMPORAL_STRIDE:
        below = num_frames - (num_frames - 1) % TEMPORAL_STRIDE
        raise ValueError(
            f"num_frames must be 1 + {TEMPORAL_STRIDE}k (the autoencoder's temporal stride), got {num_frames}; "
            f"use {below} or {below + TEMPORAL_STRIDE}"
        )
    return num_frames


def _probe_pair(record: PairRecord) -> _PairClip:
    source = probe(record.source, count=record.end is None)
    edited = probe(record.edited)
    if (source.width, source.height) != (edited.width, edited.height):
        raise VideoError(
            f"{record.edited} is {edited.width}x{edited.height} but its source {record.source} is "
            f"{source.width}x{source.height}"
        )
    end = record.end
    if end is None:  # counted at the stored rate; estimated from the duration if the record reads it at another
        same_rate = source.fps is not None and abs(source.fps - record.fps) < 1e-3
        end = source.num_frames if same_rate else count_at_rate(record.source, record.fps) or 0
    return _PairClip(record, (source.width, source.height), max(0, end - record.start))


def _check_buckets(buckets: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    if isinstance(buckets, str) or not buckets:
        raise ValueError(f"buckets must be a non-empty list of (width, height), got {buckets!r}")
    return tuple(check_size(tuple(bucket)) for bucket in buckets)


def _check_crop_scale(crop_scale: tuple[float, float]) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in crop_scale)
    except (TypeError, ValueError):
        raise ValueError(f"crop_scale must be (low, high), got {crop_scale!r}") from None
    if not 0 < low <= high <= 1:
        raise ValueError(f"crop_scale must satisfy 0 < low <= high <= 1, got {crop_scale!r}")
    return low, high


def _check_index(index: int, length: int) -> int:
    if not -length <= index < length:
        raise IndexError(f"index {index} out of range for a dataset of {length} clips")
    return index % length


def _warn_skipped(skipped: list[tuple[str, int]], num_frames: int) -> None:
    if not skipped:
        return
    named = ", ".join(f"{path} ({count} frames)" for path, count in skipped[:_MAX_NAMED])
    more = f" and {len(skipped) - _MAX_NAMED} more" if len(skipped) > _MAX_NAMED else ""
    warnings.warn(f"skipping {len(skipped)} clips shorter than {num_frames} frames: {named}{more}", stacklevel=3)
