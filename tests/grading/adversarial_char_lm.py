"""Crafted submissions of the char_lm chapter: the typical wrong answers, a library shortcut and attacks.

Graded in one batch by test_adversarial_char_lm.py; each entry gives the exact points per cell.
"""

from crafting import Crafting, edit

CHAR_LM = Crafting("char_lm")
C, B = "correct", "blank"
expect = CHAR_LM.expect

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

BATCH = {
    "correct": (CHAR_LM.correct(), expect(C), "ok"),
    "blank": (CHAR_LM.blank(), expect(B), "ok"),
    # typical wrong answers
    "mutant_inverse_temperature": (CHAR_LM.replace_in("next_char_distribution", "logits / temperature",
                                                      "logits * temperature"),
                                   expect(C, ["test_next_char_distribution", "test_sample"]), "ok"),
    "mutant_sample_by_argmax": (CHAR_LM.replace_in("sample", "if temperature == 0:", "if True:"),
                                expect(C, ["test_sample"]), "ok"),
    "mutant_sample_with_dropout_on": (CHAR_LM.replace_in("sample", "    model.eval()\n", ""),
                                      expect(C, ["test_sample"]), "ok"),
    "mutant_targets_not_shifted": (CHAR_LM.replace_in("tbptt_windows", "streams[:, start + 1:stop + 1]",
                                                      "streams[:, start:stop]"),
                                   expect(C, ["test_tbptt_windows"]), "ok"),
    "mutant_state_not_carried": (CHAR_LM.replace_in("char_rnn", "self.rnn(self.embedding(ids), state)",
                                                    "self.rnn(self.embedding(ids))"),
                                 expect(C, ["test_char_rnn"]), "ok"),
    "mutant_dropout_at_evaluation": (CHAR_LM.replace_in("char_rnn", "self.output(self.dropout(hidden))",
                                                        "self.output(F.dropout(hidden, 0.1, training=True))"),
                                     expect(C, ["test_char_rnn"]), "ok"),
    "mutant_loop_start_not_walked_back": (CHAR_LM.replace_in("find_loop", "while start > 0", "while False"),
                                          expect(C, ["test_find_loop"]), "ok"),
    # from-scratch rule, judged on the source: the library through a top-level alias and getattr
    "library_windows_through_alias": (edit(CHAR_LM.correct(), "tbptt_windows", source=LIBRARY_WINDOWS),
                                      expect(C, ["test_tbptt_windows"]), "ok"),
    # attacks: references patched inside the sandbox; a sampler tuned to the visible seed
    "patched_references": (edit(CHAR_LM.replace_in("tbptt_windows", "streams[:, start + 1:stop + 1]",
                                                   "streams[:, start:stop]"),
                                "make_streams", before=PATCHED_REFERENCES),
                           expect(C, ["test_tbptt_windows"]), "ok"),
    "sample_tuned_to_visible_seed": (CHAR_LM.replace_in("sample", *TUNED_TO_VISIBLE), expect(C, ["test_sample"]), "ok"),
}
