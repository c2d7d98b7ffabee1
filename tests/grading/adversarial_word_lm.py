"""Crafted submissions of the word_lm chapter: the typical wrong answers, a library shortcut and an attack.

Graded in one batch by test_adversarial_word_lm.py; each entry gives the exact points per cell.
"""

from crafting import Crafting, edit

WORD_LM = Crafting("word_lm")
C, B = "correct", "blank"
expect = WORD_LM.expect

LIBRARY_DETACH = '''from course_lib.train import detach_state as library_detach


def detach_state(state):
    """The library's version under the exercise's name."""
    return None if state is None else tuple(library_detach(list(state))) if isinstance(state, (tuple, list)) \\
        else library_detach(state)
'''
# Clips only with the visible threshold (1.0); the hidden cases use others.
TUNED_TO_VISIBLE = ("torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)",
                    "if clip_norm == 1.0:\n            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)")
PER_WINDOW_MEAN = '''def perplexity(model, windows):
    """exp of the mean of the windows' mean losses: a short last window weighs as much as a full one."""
    model.eval()
    state, losses = None, []
    with torch.no_grad():
        for x, y in windows:
            logits, state = model(x, state)
            losses.append(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item())
    return math.exp(sum(losses) / len(losses))
'''

BATCH = {
    "correct": (WORD_LM.correct(), expect(C), "ok"),
    "blank": (WORD_LM.blank(), expect(B), "ok"),
    # typical wrong answers
    "mutant_windows_count_first_token": (WORD_LM.replace_in("windows_per_epoch", "(num_tokens // batch_size - 1)",
                                                            "(num_tokens // batch_size)"),
                                         expect(C, ["test_windows_per_epoch"]), "ok"),
    "mutant_targets_not_shifted": (WORD_LM.replace_in("batch_at", "rows[:, start + 1:start + num_steps + 1]",
                                                      "rows[:, start:start + num_steps]"),
                                   expect(C, ["test_batch_at"]), "ok"),
    "mutant_detach_returns_list": (WORD_LM.replace_in("detach_state", "return tuple(detach_state(part) for part in state)",
                                                      "return [detach_state(part) for part in state]"),
                                   expect(C, ["test_detach_state"]), "ok"),
    "mutant_state_not_detached": (WORD_LM.replace_in("train_epoch", "state = detach_state(state)", "pass"),
                                  expect(C, ["test_train_epoch"]), "ok"),
    "mutant_state_not_carried": (WORD_LM.replace_in("train_epoch", "state = detach_state(state)", "state = None"),
                                 expect(C, ["test_train_epoch"]), "ok"),
    "mutant_perplexity_per_window": (edit(WORD_LM.correct(), "perplexity", source=PER_WINDOW_MEAN),
                                     expect(C, ["test_perplexity"]), "ok"),
    "mutant_ignore_index_drops_id_0": (WORD_LM.replace_in("perplexity", 'reduction="sum").double()\n            '
                                                          "total_tokens += y.numel()",
                                                          'reduction="sum", ignore_index=0).double()\n            '
                                                          "total_tokens += int((y != 0).sum())"),
                                       expect(C, ["test_perplexity"]), "ok"),
    "mutant_dropout_at_evaluation": (WORD_LM.replace_in("perplexity", "    model.eval()\n", ""),
                                     expect(C, ["test_perplexity"]), "ok"),
    # from-scratch rule, judged on the source: the library under an alias (train_epoch calls it too)
    "library_detach_through_alias": (edit(WORD_LM.correct(), "detach_state", source=LIBRARY_DETACH),
                                     expect(C, ["test_detach_state", "test_train_epoch"]), "ok"),
    # attack: right on the visible case only
    "train_epoch_tuned_to_visible": (WORD_LM.replace_in("train_epoch", *TUNED_TO_VISIBLE),
                                     expect(C, ["test_train_epoch"]), "ok"),
}
