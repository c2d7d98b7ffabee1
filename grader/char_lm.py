"""Hidden cases of the char_lm chapter: other sizes, seeds, temperatures and sequences than the visible ones."""

import torch

from course_lib.checks.base import Case
from course_lib.checks.char_lm import loop_case

_BLOCK = torch.randint(50, (17,), generator=torch.Generator().manual_seed(5)).tolist()

HIDDEN = {
    "char_lm.make_streams": [Case((1000, 7)), Case((33, 1)), Case((10, 5))],
    "char_lm.tbptt_windows": [Case((2, 11, 5)),    # L - 1 a multiple of T: no short window
                              Case((5, 30, 7)),
                              Case((1, 2, 3)),     # one target, one window of length 1
                              Case((6, 50, 100))],
    "char_lm.char_rnn": [Case(("gru", 21, 30, 8, 16, 2, 2, 9)), Case(("lstm", 22, 7, 3, 4, 1, 5, 4)),
                         Case(("gru", 23, 13, 6, 6, 1, 2, 5))],  # E = H: the embedding and the output layer told apart
    "char_lm.next_char_distribution": [Case((7, 4, 65, temperature, 3.0)) for temperature in (0.25, 1.5, 3.0, 0.0)]
                                      + [Case((8, 1, 10_000, 1.0, 50.0)), Case((9, 2, 7, 0.1, 200.0))],
    "char_lm.sample": [Case((5, (4,), 30, 0.5, 11)), Case((6, (7, 7, 0, 19, 3), 25, 2.0, 12)),
                       Case((7, (2, 9), 20, 0.0, 13)), Case((8, (0, 1), 40, 1.0, 14)),
                       Case((9, (3, 1, 4), 30, 1.0, 15), {"dropout": 0.5})],  # handed over in train mode
    "char_lm.find_loop": [loop_case("abababab", (0, 2)),                  # shortest period, not 4
                          loop_case("qabab", (None, None)),               # only two repeats of "ab"
                          loop_case("qabab", (1, 2), min_repeats=2),
                          loop_case([3, 9, 9, 4, 7, 1, 4, 7, 1, 4, 7, 1], (3, 3)),
                          loop_case("", (None, None)),
                          loop_case([100, 101] + _BLOCK * 4 + _BLOCK[:5], (2, 17)),
                          loop_case("no loop here at all!", (None, None))],
}
