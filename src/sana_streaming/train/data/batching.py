"""Batching clips of several resolution buckets: a sampler that never mixes buckets, and a collate that stacks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler


def collate(batch: Sequence[dict]) -> dict:
    """Stack a list of dataset items into one batch.

    Args:
        batch: items with the same keys; tensors of one key must have one shape (one bucket).

    Returns:
        The same keys: tensors stacked on a new first dim ((B, 3, T, H, W) for clips), everything else as lists.
    """
    if not batch:
        raise ValueError("collate needs at least one item")
    out = {}
    for key in batch[0]:
        values = [item[key] for item in batch]
        if isinstance(values[0], torch.Tensor):
            shapes = sorted({tuple(value.shape) for value in values})
            if len(shapes) > 1:
                raise ValueError(
                    f"cannot stack '{key}' of shapes {shapes}: the batch mixes resolution buckets "
                    f"(batch indices with BucketBatchSampler)"
                )
            out[key] = torch.stack(values)
        else:
            out[key] = values
    return out


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of dataset indices that all share one resolution bucket.

    Uses ``dataset.bucket_ids`` (one bucket number per item; a dataset without it is one bucket). With
    ``shuffle``, indices are shuffled within each bucket and the batches across buckets, from (seed, epoch);
    call ``set_epoch`` each epoch. Without ``drop_last`` each bucket's last batch may be smaller.
    """

    def __init__(
        self, dataset: Sequence, batch_size: int, shuffle: bool = True, seed: int = 0, drop_last: bool = False
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.bucket_ids = list(getattr(dataset, "bucket_ids", [0] * len(dataset)))
        self.batch_size, self.shuffle, self.seed, self.drop_last = batch_size, shuffle, seed, drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _groups(self) -> list[list[int]]:
        groups: dict[int, list[int]] = {}
        for index, bucket in enumerate(self.bucket_ids):
            groups.setdefault(bucket, []).append(index)
        return [groups[bucket] for bucket in sorted(groups)]

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        batches = []
        for group in self._groups():
            order = [group[i] for i in rng.permutation(len(group))] if self.shuffle else group
            for begin in range(0, len(order), self.batch_size):
                batch = order[begin : begin + self.batch_size]
                if len(batch) == self.batch_size or not self.drop_last:
                    batches.append(batch)
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return iter(batches)

    def __len__(self) -> int:
        sizes = [len(group) for group in self._groups()]
        if self.drop_last:
            return sum(size // self.batch_size for size in sizes)
        return sum(-(-size // self.batch_size) for size in sizes)
