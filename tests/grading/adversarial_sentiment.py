"""Crafted submissions of the sentiment chapter: the typical wrong answers, a library shortcut, an attack.

Graded in one batch by test_adversarial_sentiment.py; each entry gives the exact points per cell.
"""

from crafting import Crafting, edit

SENTIMENT = Crafting("sentiment")
C, B = "correct", "blank"
expect = SENTIMENT.expect

# collate_padded under another name, bound at the top of the answer cell: the rule follows the alias
ALIASED_LIBRARY = '''from course_lib.data import collate_padded as pad_batch


def collate(batch):
    """The library's padding, under another name."""
    return pad_batch(batch)
'''
# the library's function fetched by name from a module alias (the alias itself is allowed)
FETCHED_LIBRARY = '''import course_lib.data as library_data


def collate(batch):
    """The library's padding, fetched by name."""
    return getattr(library_data, "collate_padded")(batch)
'''
# the references and the visible check patched inside the sandbox: verdicts are computed in the grader
PATCH_REFERENCES = '''
import course_lib.data
import course_lib.checks.sentiment as checks
course_lib.data.collate_padded = lambda batch: collate(batch)
checks.collate_padded = course_lib.data.collate_padded
for name in checks.CHECKS:
    checks.CHECKS[name].compare = lambda *a, **k: None
'''

BATCH = {
    "correct": (SENTIMENT.correct(), expect(C), "ok"),
    "blank": (SENTIMENT.blank(), expect(B), "ok"),
    # typical wrong answers
    "mutant_padding_before_review": (SENTIMENT.replace_in("collate", "ids[row, : len(sequence)] = sequence",
                                                          "ids[row, ids.shape[1] - len(sequence):] = sequence"),
                                     expect(C, ["test_collate"]), "ok"),
    "mutant_mask_true_at_padding": (SENTIMENT.replace_in("collate", "mask = torch.arange(ids.shape[1])[None, :] < lengths[:, None]",
                                                         "mask = torch.arange(ids.shape[1])[None, :] >= lengths[:, None]"),
                                    expect(C, ["test_collate"]), "ok"),
    "mutant_float_labels": (SENTIMENT.replace_in("collate", "labels = torch.tensor([int(label) for _, label in batch], dtype=torch.long)",
                                                 "labels = torch.tensor([float(label) for _, label in batch])"),
                            expect(C, ["test_collate"]), "ok"),
    # the pool picks padding: the classifier that uses it then depends on the padding too
    "mutant_pool_picks_padding": (SENTIMENT.replace_in("masked_max_pool", 'h.masked_fill(~mask[:, :, None], float("-inf")).amax(dim=1)',
                                                       "h.amax(dim=1)"),
                                  expect(C, ["test_masked_max_pool", "test_sentiment_classifier"]), "ok"),
    "mutant_pool_zero_fill": (SENTIMENT.replace_in("masked_max_pool", 'h.masked_fill(~mask[:, :, None], float("-inf")).amax(dim=1)',
                                                   "(h * mask[:, :, None]).amax(dim=1)"),
                              expect(C, ["test_masked_max_pool"]), "ok"),
    "mutant_classifier_pools_padding": (SENTIMENT.replace_in("sentiment_classifier", "masked_max_pool(torch.relu(h), mask)",
                                                             "torch.relu(h).amax(dim=1)"),
                                        expect(C, ["test_sentiment_classifier"]), "ok"),
    "mutant_elman_body_for_lstm": (SENTIMENT.replace_in("sentiment_classifier",
                                                        "self.body = nn.LSTM(embedding_size, hidden_size, batch_first=True)",
                                                        "self.body = nn.RNN(embedding_size, hidden_size, batch_first=True)"),
                                   expect(C, ["test_sentiment_classifier"]), "ok"),
    # the library's answer through an alias; references patched in the sandbox
    "aliased_library_collate": (edit(SENTIMENT.correct(), "collate", source=ALIASED_LIBRARY),
                                expect(C, ["test_collate"]), "ok"),
    "fetched_library_collate": (edit(SENTIMENT.correct(), "collate", source=FETCHED_LIBRARY),
                                expect(C, ["test_collate"]), "ok"),
    "patched_references": (edit(SENTIMENT.blank(), "collate", before=PATCH_REFERENCES), expect(B), "ok"),
}
