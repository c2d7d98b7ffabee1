"""Tests of the Baum–Sweet data set (chapter 6)."""

import math
import re
import time

import numpy as np
import pytest
import torch

from course_lib.data.baum_sweet import (
    BIT_0,
    BIT_1,
    LENGTH_SETTINGS,
    PAD,
    SMALLEST_NUMBER,
    baum_sweet,
    baum_sweet_labels,
    decode_number,
    encode_number,
    encode_numbers,
    expected_positive_rate,
    make_baum_sweet_dataset,
)

# OEIS A086747, n = 0..31, checked by hand against the definition (e.g. 4 = 100 -> 1, 5 = 101 -> 0,
# 9 = 1001 -> 1, 16 = 10000 -> 1, 25 = 11001 -> 1, 24 = 11000 -> 0).
OEIS_A086747 = [1, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1,
                1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1]

# The majority baselines chapter 6 quotes for T = 4, 5, 6.
COURSE_POSITIVE_RATES = {4: 0.82, 5: 0.67, 6: 0.50}


def has_odd_zero_block(n: int) -> bool:
    """An independent reading of the definition: a maximal run of zeros of odd length."""
    return n > 0 and re.search(r"(?<!0)0(00)*(?!0)", format(n, "b")) is not None


def test_first_32_terms_match_oeis():
    assert [baum_sweet(n) for n in range(32)] == OEIS_A086747
    assert baum_sweet_labels(torch.arange(32)).tolist() == OEIS_A086747


def test_scalar_and_vectorised_labels_follow_the_definition():
    numbers = range(2**14)
    expected = [0 if has_odd_zero_block(n) else 1 for n in numbers]
    assert [baum_sweet(n) for n in numbers] == expected
    assert baum_sweet_labels(torch.arange(2**14)).tolist() == expected


def test_negative_numbers_are_refused():
    with pytest.raises(ValueError, match="n >= 0"):
        baum_sweet(-1)
    with pytest.raises(ValueError, match="n >= 0"):
        baum_sweet_labels(torch.tensor([3, -2]))


@pytest.mark.parametrize("n, T, expected", [
    (10, 4, [PAD] * 12 + [BIT_1, BIT_0, BIT_1, BIT_0]),            # 1010
    (1, 4, [PAD] * 15 + [BIT_1]),
    (0, 5, [PAD] * 20),                                            # 0 is the empty binary string
    (2**16 - 1, 4, [BIT_1] * 16),                                  # exactly fills 4T = 16 positions
    (10**6, 6, [PAD] * 4 + [2, 2, 2, 2, 1, 2, 1, 1, 1, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1]),  # 0xF4240
])
def test_encode_number_by_hand(n, T, expected):
    assert encode_number(n, T) == expected
    assert encode_numbers(torch.tensor([n]), T).tolist() == [expected]
    assert decode_number(expected) == n


def test_encode_number_refuses_what_does_not_fit():
    with pytest.raises(ValueError, match="does not fit in 16"):
        encode_number(2**16, 4)
    with pytest.raises(ValueError, match="does not fit"):
        encode_number(-3, 4)
    with pytest.raises(ValueError, match="codes must be"):
        decode_number([0, 1, 3])


@pytest.mark.parametrize("T", [3, 7, 0, "4"])
def test_unknown_length_setting_is_explained(T):
    with pytest.raises(ValueError, match=r"use one of 4, 5, 6"):
        make_baum_sweet_dataset(T, 10, seed=0)
    with pytest.raises(ValueError, match=r"use one of 4, 5, 6"):
        encode_number(10, T)


@pytest.mark.parametrize("T", LENGTH_SETTINGS)
def test_dataset_shapes_codes_and_labels(T):
    codes, labels = make_baum_sweet_dataset(T, 3000, seed=1)
    assert codes.shape == (3000, 4 * T) and codes.dtype == torch.long
    assert labels.shape == (3000,) and labels.dtype == torch.long
    assert set(codes.unique().tolist()) <= {PAD, BIT_0, BIT_1}
    # Each row is pads then bits, and the first bit is the leading 1.
    is_bit = codes != PAD
    assert torch.equal(is_bit, is_bit.cummax(dim=1).values)
    first_bit = codes.gather(1, is_bit.long().argmax(dim=1, keepdim=True)).squeeze(1)
    assert (first_bit == BIT_1).all()
    numbers = [decode_number(row) for row in codes]
    assert all(SMALLEST_NUMBER <= n <= 10**T for n in numbers)
    assert labels.tolist() == [baum_sweet(n) for n in numbers]


def test_dataset_is_seeded_and_leaves_global_state_alone():
    torch.manual_seed(123)
    np.random.seed(123)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    first = make_baum_sweet_dataset(5, 2000, seed=7)
    again = make_baum_sweet_dataset(5, 2000, seed=7)
    other = make_baum_sweet_dataset(5, 2000, seed=8)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert (np.random.get_state()[1] == numpy_state).all()


def test_smaller_dataset_is_a_prefix_of_a_larger_one():
    small_codes, small_labels = make_baum_sweet_dataset(6, 500, seed=3)
    large_codes, large_labels = make_baum_sweet_dataset(6, 5000, seed=3)
    assert torch.equal(small_codes, large_codes[:500]) and torch.equal(small_labels, large_labels[:500])
    empty_codes, empty_labels = make_baum_sweet_dataset(4, 0, seed=0)
    assert empty_codes.shape == (0, 16) and empty_labels.shape == (0,)


def test_twenty_thousand_samples_take_well_under_a_second():
    # About 20 ms here; the bound leaves room for a busy CI machine but not for a Python loop.
    make_baum_sweet_dataset(6, 100, seed=0)  # first-call overheads are not what is measured
    start = time.perf_counter()
    make_baum_sweet_dataset(6, 20_000, seed=0)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("T", LENGTH_SETTINGS)
def test_positive_rate_matches_the_rejection_sampling(T):
    # The exact rate (counted over all of [10, 10**T]) is what the course's rounded baselines say.
    expected = expected_positive_rate(T)
    assert expected == pytest.approx(COURSE_POSITIVE_RATES[T], abs=0.01)
    # 20,000 kept draws are independent Bernoulli(expected) labels, so the measured rate has a
    # binomial standard error sqrt(p(1-p)/N) (0.0027 at T = 4, 0.0035 at T = 6). Four standard
    # errors leave a sampler bias of 1.5 points nowhere to hide, and a fair sampler fails with
    # probability under 1e-4 (the seed is fixed, so the test is deterministic anyway).
    size = 20_000
    _, labels = make_baum_sweet_dataset(T, size, seed=0)
    measured = labels.double().mean().item()
    standard_error = math.sqrt(expected * (1 - expected) / size)
    assert abs(measured - expected) < 4 * standard_error, (
        f"T={T}: positive rate {measured:.4f}, expected {expected:.4f} ± {4 * standard_error:.4f}")
