"""Crafted submissions of the word_lm chapter: the typical wrong answers, a library shortcut and an attack.

Graded in one batch by test_adversarial_word_lm.py; each entry gives the exact points per cell.
"""

from crafting import Crafting, edit

WORD_LM = Crafting("word_lm")
C, B = "correct", "blank"
expect, mutant = WORD_LM.expect, WORD_LM.replace_each

LIBRARY_DETACH = '''from course_lib.train import detach_state as library_detach


def detach_state(state):
    """The library's version under the exercise's name."""
    return None if state is None else tuple(library_detach(list(state))) if isinstance(state, (tuple, list)) \\
        else library_detach(state)
'''
# Clips only with the visible threshold (1.0); the hidden cases use others.
TUNED_TO_VISIBLE = ("torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)",
                    "if clip_norm == 1.0:\n            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)")
# Perplexity without eval(), and the library's evaluation and perplexity patched to agree with it: the
# grader computes its expected values in its own process.
PATCHED_REFERENCES = '''
import course_lib.metrics, course_lib.train
course_lib.train.evaluate = lambda model, windows, **k: {"perplexity": perplexity(model, windows), "loss": 0.0}
course_lib.metrics.Perplexity.compute = lambda self: 1.0
'''
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

COUNTS_FIRST_TOKEN = ("windows_per_epoch", "(num_tokens // batch_size - 1)", "(num_tokens // batch_size)")
TARGETS_NOT_SHIFTED = ("batch_at", "rows[:, start + 1:start + num_steps + 1]", "rows[:, start:start + num_steps]")
DETACH_RETURNS_LIST = ("detach_state", "return tuple(detach_state(part) for part in state)",
                       "return [detach_state(part) for part in state]")
STATE_NOT_DETACHED = ("train_epoch", "state = detach_state(state)", "pass")
STATE_NOT_CARRIED = ("train_epoch", "state = detach_state(state)", "state = None")
IGNORE_INDEX_DROPS_ID_0 = ("perplexity", 'reduction="sum").double()\n            total_tokens += y.numel()',
                           'reduction="sum", ignore_index=0).double()\n            total_tokens += int((y != 0).sum())')
DROPOUT_AT_EVALUATION = ("perplexity", "    model.eval()\n", "")

# Eight entries: one nbgrader chunk with --jobs 2 (a second chunk costs as much again).
BATCH = {
    "correct": (WORD_LM.correct(), expect(C), "ok"),
    "blank": (WORD_LM.blank(), expect(B), "ok"),
    # typical wrong answers, each in another exercise
    "mutant_first_token_counted_unshifted_targets_state_not_detached_dropout_on": (
        mutant(COUNTS_FIRST_TOKEN, TARGETS_NOT_SHIFTED, STATE_NOT_DETACHED, DROPOUT_AT_EVALUATION),
        expect(C, ["test_windows_per_epoch", "test_batch_at", "test_train_epoch", "test_perplexity"]), "ok"),
    "mutant_detach_returns_list_state_not_carried_ignore_index_0": (
        mutant(DETACH_RETURNS_LIST, STATE_NOT_CARRIED, IGNORE_INDEX_DROPS_ID_0),
        expect(C, ["test_detach_state", "test_train_epoch", "test_perplexity"]), "ok"),
    "mutant_perplexity_per_window": (edit(WORD_LM.correct(), "perplexity", source=PER_WINDOW_MEAN),
                                     expect(C, ["test_perplexity"]), "ok"),
    # from-scratch rule, judged on the source: the library under an alias (train_epoch calls it too)
    "library_detach_through_alias": (edit(WORD_LM.correct(), "detach_state", source=LIBRARY_DETACH),
                                     expect(C, ["test_detach_state", "test_train_epoch"]), "ok"),
    # attacks: right on the visible case only; the library's references patched inside the sandbox
    "train_epoch_tuned_to_visible": (WORD_LM.replace_in("train_epoch", *TUNED_TO_VISIBLE),
                                     expect(C, ["test_train_epoch"]), "ok"),
    "patched_references": (edit(mutant(DROPOUT_AT_EVALUATION), "windows_per_epoch", before=PATCHED_REFERENCES),
                           expect(C, ["test_perplexity"]), "ok"),
}
