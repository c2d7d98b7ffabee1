"""BucketBatchSampler: every example once per epoch, similar lengths per batch, seeded order."""

import torch

from course_lib.data import BucketBatchSampler


def lengths_of(n, seed=0):
    return torch.randint(1, 400, (n,), generator=torch.Generator().manual_seed(seed))


def padding(batches, lengths):
    """Padded positions over all positions when each batch is padded to its longest member."""
    padded = sum(len(batch) * int(lengths[batch].max()) for batch in batches)
    return 1 - int(lengths.sum()) / padded


def test_every_example_once_per_epoch_in_batches_of_the_size_asked():
    lengths = lengths_of(1000)
    sampler = BucketBatchSampler(lengths, 64, pool_batches=5, generator=torch.Generator().manual_seed(1))
    for _ in range(3):  # three epochs
        batches = list(sampler)
        assert sorted(i for batch in batches for i in batch) == list(range(1000))
        # Pools of 320: 3 full pools of 5 batches, then 40 examples in one batch.
        assert len(batches) == len(sampler) == 16
        assert sorted(len(batch) for batch in batches) == [40] + [64] * 15


def test_batches_hold_similar_lengths():
    lengths = lengths_of(5000, seed=2)
    bucketed = list(BucketBatchSampler(lengths, 64, generator=torch.Generator().manual_seed(0)))
    random = list(torch.randperm(5000, generator=torch.Generator().manual_seed(0)).split(64))
    assert padding(random, lengths) > 0.40          # uniform lengths: random batches are mostly padding
    assert padding(bucketed, lengths) < 0.05
    # Within a pool the batches follow the lengths: each batch's lengths are sorted.
    assert all(lengths[batch].tolist() == sorted(lengths[batch].tolist()) for batch in bucketed)


def test_the_order_is_seeded_and_changes_between_epochs():
    lengths = lengths_of(500)
    first = list(BucketBatchSampler(lengths, 32, generator=torch.Generator().manual_seed(3)))
    again = list(BucketBatchSampler(lengths, 32, generator=torch.Generator().manual_seed(3)))
    assert first == again
    torch.manual_seed(4)  # without a generator: torch's global one, which seed_everything sets
    global_order = BucketBatchSampler(lengths, 32)
    epoch_one, epoch_two = list(global_order), list(global_order)
    assert epoch_one != epoch_two
    torch.manual_seed(4)
    assert list(BucketBatchSampler(lengths, 32)) == epoch_one


def test_in_a_data_loader():
    from torch.utils.data import DataLoader

    from course_lib.data import collate_padded

    lengths = lengths_of(100)
    data = [(torch.arange(int(n)), torch.tensor(i % 2)) for i, n in enumerate(lengths)]
    loader = DataLoader(data, batch_sampler=BucketBatchSampler(lengths, 16, pool_batches=2), collate_fn=collate_padded)
    ids, batch_lengths, mask, labels = next(iter(loader))
    assert ids.shape == (16, int(batch_lengths.max())) and mask.sum() == batch_lengths.sum()
    assert len(loader) == 7


def test_bad_arguments_are_named():
    import pytest

    with pytest.raises(ValueError, match="batch_size and pool_batches must be at least 1"):
        BucketBatchSampler([3, 4], 0)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        BucketBatchSampler([], 4)
