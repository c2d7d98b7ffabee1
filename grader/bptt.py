"""Hidden cases of the bptt chapter: other sizes and seeds than the visible ones."""

from course_lib.checks.base import Case
from course_lib.checks.bptt import gru_case

GRU_CASES = [gru_case(seed) for seed in (41, 42, 43)]

HIDDEN = {
    "bptt.rnn_forward": [Case((11, 1, 1, 2, 3, 5)), Case((12, 4, 9, 6, 5, 7))],
    "bptt.rnn_backward_output_layer": [Case((21, 1, 1, 2, 3, 4)), Case((22, 3, 12, 5, 6, 7))],
    "bptt.rnn_backward_recurrent": [Case((31, 1, 2, 2, 3, 4)), Case((32, 3, 15, 5, 6, 7))],
    "bptt.gru_update": GRU_CASES,
    "bptt.gru_candidate": GRU_CASES,
    "bptt.gru_reset": GRU_CASES,
    "bptt.jacobian_norms": [Case(("ElmanCell", 51, 9, 3, 4)), Case(("ElmanCell", 52, 1, 2, 2)),
                            Case(("LSTMCell", 53, 7, 3, 2)), Case(("GRUCell", 54, 6, 2, 3))],
}
