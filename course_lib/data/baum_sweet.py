"""The Baum–Sweet task: read a number's bits one at a time, then say whether it is a Baum–Sweet number.

b(n) = 1 iff the binary form of n has no block of consecutive zeros of odd length (OEIS A086747;
b(0) = 1 because the binary form of 0 is taken to be empty). Whether a block is odd is only known
when the 1 that closes it arrives, and one odd block anywhere decides the answer, so the network has
to carry a single bit of evidence across the whole sequence: a small long-range task.

The data set (chapter 6), for a length setting T in {4, 5, 6}:

* draw n uniformly from [10, 10**T] (both ends included);
* positives are always kept; a draw with label 0 is kept only with probability 0.016724
  (rejection sampling), because Baum–Sweet numbers are rare: 7.2% of [10, 10**4], 1.7% of
  [10, 10**6]. The constant is the positive fraction at T = 6, so T = 6 comes out balanced and the
  positive rates are about 0.82 / 0.67 / 0.50 for T = 4 / 5 / 6 (the majority baselines);
* write n in binary, most significant bit first, left-padded to 4T positions with the codes
  0 = pad, 1 = bit 0, 2 = bit 1. 4T positions always suffice because 10**T < 16**T = 2**(4T).

Example, T = 4: n = 10 = 0b1010 -> [0]*12 + [2, 1, 2, 1], label 0 (the last zero is a block of one).
"""

from __future__ import annotations

import operator
from typing import Sequence

import numpy as np
import torch

LENGTH_SETTINGS = (4, 5, 6)
SMALLEST_NUMBER = 10
KEEP_NEGATIVE_PROBABILITY = 0.016724
PAD, BIT_0, BIT_1 = 0, 1, 2

# Candidates are drawn in blocks of this fixed size. Because it does not depend on the requested
# size, a smaller data set is always a prefix of a larger one made with the same seed.
_DRAWS_PER_ROUND = 1 << 16


def _check_length_setting(T: int) -> None:
    if T not in LENGTH_SETTINGS:
        raise ValueError(
            f"T={T!r} is not a length setting of the Baum–Sweet task; use one of "
            f"{', '.join(map(str, LENGTH_SETTINGS))} (numbers up to 10**T written in 4*T binary positions)."
        )


def sequence_length(T: int) -> int:
    """How many positions a number takes in setting T: 4T."""
    _check_length_setting(T)
    return 4 * T


def baum_sweet(n: int) -> int:
    """b(n): 1 if the binary form of n has no block of consecutive zeros of odd length, else 0."""
    n = operator.index(n)  # accept any integer type (Python, NumPy), refuse floats
    if n < 0:
        raise ValueError(f"the Baum–Sweet sequence is defined for n >= 0, got n={n}.")
    if n == 0:
        return 1  # OEIS A086747: the binary form of 0 is empty, so it has no odd block
    zero_blocks = format(n, "b").split("1")  # the pieces between ones are the zero blocks
    return int(all(len(block) % 2 == 0 for block in zero_blocks))


def _as_numbers(numbers) -> np.ndarray:
    """Any 1-D integer tensor, array or list as an int64 NumPy array of non-negative numbers."""
    numbers = torch.as_tensor(numbers).numpy().astype(np.int64, copy=False)
    if numbers.size and numbers.min() < 0:
        raise ValueError("the Baum–Sweet sequence is defined for n >= 0 only.")
    return numbers


def _labels(numbers: np.ndarray) -> np.ndarray:
    # Walk the bits from the least significant one up, keeping the parity of the current zero run.
    # A 1 closes the run below it; zeros above the leading 1 are never closed, so they never count.
    run_is_odd = np.zeros(numbers.shape, dtype=bool)
    has_odd_block = np.zeros(numbers.shape, dtype=bool)
    for bit in range(int(numbers.max()).bit_length() if numbers.size else 0):
        is_one = ((numbers >> bit) & 1).astype(bool)
        has_odd_block |= is_one & run_is_odd
        run_is_odd = ~(is_one | run_is_odd)  # a 0 flips the parity, a 1 resets it to even
    return (~has_odd_block).astype(np.int64)


def baum_sweet_labels(numbers) -> torch.Tensor:
    """b(n) for many numbers at once. numbers: (N,) non-negative integers. Returns labels: (N,) long."""
    return torch.from_numpy(_labels(_as_numbers(numbers)))


def encode_number(n: int, T: int) -> list[int]:
    """The 4T codes of n: its bits, most significant first (1 = bit 0, 2 = bit 1), left-padded with 0.

    >>> encode_number(10, 4)
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 2, 1]
    """
    width = sequence_length(T)
    n = operator.index(n)
    if n < 0 or n.bit_length() > width:
        raise ValueError(f"n={n} does not fit in {width} binary positions (setting T={T}); "
                         f"use 0 <= n < 2**{width}.")
    bit_codes = [BIT_1 if bit == "1" else BIT_0 for bit in format(n, "b")] if n else []
    return [PAD] * (width - len(bit_codes)) + bit_codes


def decode_number(codes: Sequence[int] | torch.Tensor) -> int:
    """The number a row of codes spells (pads are skipped). codes: (4T,)"""
    codes = [int(code) for code in codes]
    unknown = sorted(set(codes) - {PAD, BIT_0, BIT_1})
    if unknown:
        raise ValueError(f"codes must be {PAD} (pad), {BIT_0} (bit 0) or {BIT_1} (bit 1); found {unknown}.")
    bits = "".join("1" if code == BIT_1 else "0" for code in codes if code != PAD)
    return int(bits, 2) if bits else 0


def _codes(numbers: np.ndarray, width: int) -> np.ndarray:
    shifted = numbers[:, None] >> np.arange(width - 1, -1, -1)  # (N, width); column 0 = top bit
    # A position is padding when no 1 sits at or above it, i.e. it is left of the leading 1.
    return np.where(shifted > 0, (shifted & 1) + BIT_0, PAD)


def encode_numbers(numbers, T: int) -> torch.Tensor:
    """encode_number for many numbers at once.

    numbers: (N,) non-negative integers. Returns codes: (N, 4T) long.
    """
    width = sequence_length(T)
    numbers = _as_numbers(numbers)
    if numbers.size and int(numbers.max()).bit_length() > width:
        raise ValueError(f"every number must be below 2**{width} to fit setting T={T}.")
    return torch.from_numpy(_codes(numbers, width))


def make_baum_sweet_dataset(T: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw `size` examples for setting T with the rejection sampling described in the module docstring.

    Returns codes: (size, 4T) long with values in {0, 1, 2}, and labels: (size,) long in {0, 1}.
    The same (T, seed) always gives the same examples, and a smaller size gives a prefix of a larger one.
    """
    _check_length_setting(T)
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}.")
    # NumPy rather than torch for the bit work: its element-wise operations run on one thread, so
    # the time stays ~20 ms for 20,000 examples even on a busy 2-core machine, where torch's
    # thread pool made the same loop vary from 50 ms to seconds.
    rng = np.random.default_rng(seed)
    kept_numbers, kept = [], 0
    while kept < size:
        numbers = rng.integers(SMALLEST_NUMBER, 10**T, size=_DRAWS_PER_ROUND, endpoint=True)
        keep_if_negative = rng.random(_DRAWS_PER_ROUND) < KEEP_NEGATIVE_PROBABILITY
        numbers = numbers[(_labels(numbers) == 1) | keep_if_negative]
        kept_numbers.append(numbers)
        kept += len(numbers)
    numbers = np.concatenate(kept_numbers)[:size] if kept_numbers else np.zeros(0, dtype=np.int64)
    return torch.from_numpy(_codes(numbers, 4 * T)), torch.from_numpy(_labels(numbers))


def expected_positive_rate(T: int) -> float:
    """The exact fraction of positives the data set converges to (the majority baseline's accuracy).

    With P the fraction of Baum–Sweet numbers in [10, 10**T] and q the keep probability of negatives,
    a kept draw is positive with probability P / (P + q (1 - P)). P is counted exactly, not sampled.
    """
    _check_length_setting(T)
    positive_fraction = _labels(np.arange(SMALLEST_NUMBER, 10**T + 1)).mean()
    kept_negatives = KEEP_NEGATIVE_PROBABILITY * (1 - positive_fraction)
    return float(positive_fraction / (positive_fraction + kept_negatives))
