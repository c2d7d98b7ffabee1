"""The word_lm chapter graded through `course grade` in one batch of crafted submissions (see
adversarial_word_lm.py): exact points per cell."""

import pytest

from adversarial_word_lm import BATCH
from crafting import assert_row, grade_batch


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    return grade_batch("word_lm", BATCH, tmp_path_factory.mktemp("adversarial-word-lm"),
                       "--jobs", "2", "--timeout", "60", "--notebook-timeout", "180")


@pytest.mark.parametrize("name", sorted(BATCH))
def test_each_submission_gets_exactly_the_points_it_earned(batch, name):
    assert_row(BATCH, batch["rows"], name)


def test_feedback_names_the_mistake_and_hides_hidden_cases(batch):
    feedback = batch["output"] / "feedback"
    combined = (feedback / "mutant_detach_returns_list_state_not_carried_ignore_index_0.html").read_text()
    assert "what leaving out id 0 (ignore_index=0) gives" in combined and "the state is not carried" in combined
    assert "library_detach" in (feedback / "library_detach_through_alias.html").read_text()
    tuned = (feedback / "train_epoch_tuned_to_visible.html").read_text()
    assert "a hidden case of train_epoch failed" in tuned and "clip 0.5" not in tuned
