"""Batches of sequences of similar length: the same examples each epoch, far less padding.

A batch is padded to its longest sequence, so a random batch of reviews is about half padding,
and a recurrent layer spends that half of its time on steps the mask then throws away. Sorting
the whole data set by length would remove the padding but also the randomness SGD relies on.
The usual middle way (as in torchtext's ``BucketIterator``)::

    shuffle the indices -> cut them into pools of `pool_batches` batches -> sort each pool by length
    -> cut each pool into batches -> shuffle the batches

Every example is seen exactly once per epoch, batches differ from epoch to epoch, and a batch
holds sequences of nearly equal length. Use it as a ``DataLoader``'s ``batch_sampler``::

    DataLoader(train_set, batch_sampler=BucketBatchSampler(lengths, 64), collate_fn=collate_padded)

The order comes from torch's global generator (seed it with ``config.seed_everything``; ``fit``'s
checkpoints save it), or from ``generator`` when one is given.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class BucketBatchSampler(Sampler[list[int]]):
    """Index batches of similar length, in a fresh random order every epoch.

    lengths: the length of every example (a sequence of ints or a 1-D tensor), N of them.
    batch_size: examples per batch; the last batch of each pool may be smaller.
    pool_batches: batches per sorted pool: larger pools pad less and mix less.
    """

    def __init__(self, lengths: Sequence[int] | torch.Tensor, batch_size: int, *, pool_batches: int = 50,
                 generator: torch.Generator | None = None):
        if batch_size < 1 or pool_batches < 1:
            raise ValueError(f"batch_size and pool_batches must be at least 1; got {batch_size} and {pool_batches}.")
        self.lengths = torch.as_tensor(lengths, dtype=torch.long)
        if self.lengths.ndim != 1 or len(self.lengths) == 0:
            raise ValueError(f"lengths must be a non-empty 1-D sequence; got shape {tuple(self.lengths.shape)}.")
        self.batch_size = batch_size
        self.pool_size = batch_size * pool_batches
        self.generator = generator

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(len(self.lengths), generator=self.generator)   # (N,)
        batches = []
        for pool in order.split(self.pool_size):
            # A stable sort keeps the random order among equal lengths.
            pool = pool[torch.sort(self.lengths[pool], stable=True).indices]
            batches += pool.split(self.batch_size)
        for index in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[index].tolist()

    def __len__(self) -> int:
        full_pools, rest = divmod(len(self.lengths), self.pool_size)
        return full_pools * math.ceil(self.pool_size / self.batch_size) + math.ceil(rest / self.batch_size)
