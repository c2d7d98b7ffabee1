"""The char_lm chapter, instructor half: hidden cases (other sizes, seeds, temperatures and sequences than
the visible ones) and CharRNN's logits against a reference, torch.nn holding the student's weights."""

import torch
from torch import nn

from course_lib.checks.base import Case, seeded
from course_lib.checks.char_lm import CHECKS as STUDENT_CHECKS
from course_lib.checks.char_lm import RECURRENT, CharRnnCheck, loop_case
from course_lib.grading.checks import CheckFailed, check_close


def reference_logits(parts: dict, cell: str, ids, num_layers: int):
    """Embedding -> nn.GRU/LSTM -> Linear with the weights the student's model holds (eval: no dropout);
    None when the model is not made of exactly one of each."""
    if [len(parts.get(k) or []) for k in ("embedding", cell, "linear")] != [1, 1, 1]:
        return None
    embedding_weight = parts["embedding"][0].get("weight")
    recurrent_weights, linear = parts[cell][0], parts["linear"][0]
    if not isinstance(embedding_weight, torch.Tensor) or embedding_weight.dim() != 2:
        return None
    embed_size = embedding_weight.shape[1]
    hidden_size = linear.get("weight").shape[1] if isinstance(linear.get("weight"), torch.Tensor) else 0
    try:
        # seeded: building modules draws from torch's generator, which other grading threads seed
        embedding, recurrent, output = seeded(0, lambda: (
            nn.Embedding(*embedding_weight.shape), RECURRENT[cell](embed_size, hidden_size, num_layers, batch_first=True),
            nn.Linear(hidden_size, embedding_weight.shape[0])))
        with torch.no_grad():
            embedding.weight.copy_(embedding_weight)
            recurrent.load_state_dict(recurrent_weights)
            output.load_state_dict(linear)
            return output(recurrent(embedding(ids))[0])
    except (RuntimeError, KeyError, TypeError, IndexError, ValueError):
        return None


class CharRnnAgainstTorch(CharRnnCheck):
    """The student half's CharRNN check, and the logits against Embedding -> GRU/LSTM -> Linear holding the
    model's own weights."""

    def compare_logits(self, case, got, logits):
        where, (cell, _, _, _, _, layers, _, _) = self.label(case), case.args
        reference = reference_logits(got.get("parts") or {}, cell, self.ids(case), layers)
        if reference is None:  # the modules are there (the student half checked), their weights do not fit
            raise CheckFailed(f"{where}: the weights of its nn.Embedding, nn.{cell.upper()} and nn.Linear do not fit "
                              f"Embedding(V, E) -> {cell.upper()}(E, H, num_layers) -> Linear(H, V).")
        check_close(f"{where}: logits against Embedding -> {cell.upper()} -> Linear with your weights (eval mode: "
                    "no dropout)", logits, reference, rtol=1e-4, atol=1e-5)

    def summary(self, count):
        return (f"CharRNN: parameter count, shapes and carried state right; logits match torch.nn with its weights "
                f"({count} cases)")


CHECKS = {"char_lm.char_rnn": CharRnnAgainstTorch(STUDENT_CHECKS["char_lm.char_rnn"].visible_cases())}

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
