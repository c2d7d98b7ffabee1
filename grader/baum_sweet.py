"""The baum_sweet chapter, instructor half: the label from the definition, and hidden cases."""

import numpy as np

from course_lib.checks.base import Case
from course_lib.checks.baum_sweet import classifier_case, encode_case, zero_blocks


def reference_label(n: int) -> int:
    """b(n) from the definition: every block of zeros of even length (b(0) = 1)."""
    return int(all(length % 2 == 0 for length in zero_blocks(n))) if n else 1


def _label_case() -> Case:
    """Random numbers up to 10^9, powers of two, and blocks of zeros of even and odd lengths."""
    rng = np.random.default_rng(606)
    numbers = [int(v) for v in rng.integers(1, 10**9, size=400)] + [2**k for k in range(1, 40)]
    numbers += [int("1" + "00" * k + "1", 2) for k in range(1, 12)] + [int("1" + "000" * k, 2) for k in range(1, 9)]
    return Case(([(n,) for n in numbers],), context={"expected": [reference_label(n) for n in numbers]})


def _encode_case() -> Case:
    """Every length setting: random numbers, the smallest and largest that fit, the first that does not."""
    rng = np.random.default_rng(707)
    pairs = []
    for T in (4, 5, 6):
        pairs += [(int(n), T) for n in rng.integers(1, 10**T + 1, size=30)]
        pairs += [(1, T), (2 ** (4 * T) - 1, T), (2 ** (4 * T), T)]
    return encode_case(pairs + [(1, 2), (37, 3)])


HIDDEN = {
    "baum_sweet.baum_sweet_label": [_label_case()],
    "baum_sweet.encode": [_encode_case()],
    "baum_sweet.classifier": [classifier_case("lstm", 11, B=7, L=24, seed=61),
                              classifier_case("gru", 9, B=1, L=20, seed=62),
                              classifier_case("gru", 3, B=6, L=5, seed=63)],
}
