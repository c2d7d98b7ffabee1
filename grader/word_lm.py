"""Hidden cases of the word_lm chapter: other sizes, seeds and state structures (one tensor "h", a pair "hc")
than the visible ones."""

from course_lib.checks.base import Case
from course_lib.checks.word_lm import leaf

HIDDEN = {
    "word_lm.windows_per_epoch": [Case((73_760, 20, 20)), Case((1_000, 7, 3)),
                                  Case((41, 4, 3)),     # rows of 10: 9 targets, three full windows
                                  Case((100, 10, 9))],  # rows of 10: 9 targets, exactly one window
    "word_lm.batch_at": [Case((2_003, 20, 20, 2)), Case((64, 1, 5, 3)), Case((101, 10, 9, 4))],
    "word_lm.detach_state": [
        Case(([(leaf((1, 5, 2), 3), leaf((1, 5, 2), 4)), (leaf((1, 5, 2), 5), leaf((1, 5, 2), 6))],),
             label="a list of per-layer (h, c) pairs"),
        Case(((leaf((3, 1, 7), 7), leaf((3, 1, 7), 8)),), label="(h, c) with one row")],
    "word_lm.train_epoch": [Case(("h", 31, 17, 6, 3, 7, 3 * (3 * 7 + 1)), {"lr": 1.0, "clip_norm": 0.5}),
                            Case(("hc", 32, 40, 10, 2, 3, 2 * (6 * 3 + 1)), {"lr": 0.5, "clip_norm": 2.0})],
    "word_lm.perplexity": [Case(("h", 41, 30, 5, 2, 6, 95)),                           # a short last window
                           Case(("hc", 42, 12, 7, 4, 3, 203), context={"dropout": 0.5}),  # eval mode: no dropout
                           Case(("h", 43, 9, 3, 1, 10, 57))],
}
