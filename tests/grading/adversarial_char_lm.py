"""Crafted submissions of the char_lm chapter: the typical wrong answers, a library shortcut and attacks.

Graded in one batch by test_adversarial_char_lm.py; each entry gives the exact points per cell.
"""

from crafting import Crafting, edit

CHAR_LM = Crafting("char_lm")
C, B = "correct", "blank"
expect, mutant = CHAR_LM.expect, CHAR_LM.replace_each

LIBRARY_WINDOWS = '''from course_lib import data as stream_tools


def tbptt_windows(streams, num_steps):
    """The library's windows, reached through an alias and getattr."""
    return list(getattr(stream_tools, "Stream" + "Windows")(streams, num_steps))
'''
# Targets not shifted, and the references the old test cells used patched to agree: grading in the
# grader ignores both patches.
PATCHED_REFERENCES = '''
import course_lib.data, course_lib.sample, torch
course_lib.data.StreamWindows = lambda streams, T, **k: [(streams[:, s:s + T], streams[:, s:s + T])
                                                         for s in range(0, streams.shape[1] - 1, T)]
course_lib.sample.generate = lambda model, prompts, **k: [[0] * k["max_new_tokens"]]
torch.allclose = lambda *a, **k: False
'''
# Right on the visible draws (seed 0), greedy otherwise: the hidden cases use other seeds.
TUNED_TO_VISIBLE = ("next_id = torch.multinomial(next_char_distribution(last, temperature), 1, generator=generator)",
                    "next_id = (torch.multinomial(next_char_distribution(last, temperature), 1, generator=generator)\n"
                    "                           if generator is None or generator.initial_seed() == 0\n"
                    "                           else last.argmax(dim=-1, keepdim=True))")



INVERSE_TEMPERATURE = ("next_char_distribution", "logits / temperature", "logits * temperature")
TARGETS_NOT_SHIFTED = ("tbptt_windows", "streams[:, start + 1:stop + 1]", "streams[:, start:stop]")
LOOP_START_NOT_WALKED_BACK = ("find_loop", "while start > 0", "while False")
SAMPLE_BY_ARGMAX = ("sample", "if temperature == 0:", "if True:")
STATE_NOT_CARRIED = ("char_rnn", "self.rnn(self.embedding(ids), state)", "self.rnn(self.embedding(ids))")
SAMPLE_WITH_DROPOUT_ON = ("sample", "    model.eval()\n", "")
DROPOUT_AT_EVALUATION = ("char_rnn", "self.output(self.dropout(hidden))", "self.output(F.dropout(hidden, 0.1, training=True))")

# Eight entries: one nbgrader chunk with --jobs 2 (a second chunk costs as much again).
BATCH = {
    "correct": (CHAR_LM.correct(), expect(C), "ok"),
    "blank": (CHAR_LM.blank(), expect(B), "ok"),
    # typical wrong answers; the inverse temperature also breaks the sampler, which calls it
    "mutant_inverse_temperature_unshifted_targets_loop_start": (
        mutant(INVERSE_TEMPERATURE, TARGETS_NOT_SHIFTED, LOOP_START_NOT_WALKED_BACK),
        expect(C, ["test_next_char_distribution", "test_sample", "test_tbptt_windows", "test_find_loop"]), "ok"),
    "mutant_argmax_sampling_state_not_carried": (mutant(SAMPLE_BY_ARGMAX, STATE_NOT_CARRIED),
                                                 expect(C, ["test_sample", "test_char_rnn"]), "ok"),
    "mutant_dropout_on_when_sampling_and_evaluating": (mutant(SAMPLE_WITH_DROPOUT_ON, DROPOUT_AT_EVALUATION),
                                                       expect(C, ["test_sample", "test_char_rnn"]), "ok"),
    # from-scratch rule, judged on the source: the library through a top-level alias and getattr
    "library_windows_through_alias": (edit(CHAR_LM.correct(), "tbptt_windows", source=LIBRARY_WINDOWS),
                                      expect(C, ["test_tbptt_windows"]), "ok"),
    # attacks: references patched inside the sandbox (with unshifted targets); a sampler tuned to the visible seed
    "patched_references": (edit(mutant(TARGETS_NOT_SHIFTED), "make_streams", before=PATCHED_REFERENCES),
                           expect(C, ["test_tbptt_windows"]), "ok"),
    "sample_tuned_to_visible_seed": (CHAR_LM.replace_in("sample", *TUNED_TO_VISIBLE), expect(C, ["test_sample"]), "ok"),
}
