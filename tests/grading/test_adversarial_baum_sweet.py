"""The baum_sweet chapter graded through `course grade` in one batch of crafted submissions (see
adversarial_baum_sweet.py): exact points per cell, nothing secret returned, nothing left behind."""

import pytest

from adversarial_baum_sweet import BATCH
from checking import assert_nothing_leaked_or_left, grade_chapter_batch
from crafting import assert_row

# the instructor's half (grader/baum_sweet.py): its seeds and reference must never reach a student
SECRETS = ("default_rng(606)", "default_rng(707)", "def reference_label", "seed=61", "HIDDEN = {")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    return grade_chapter_batch("baum_sweet", BATCH, tmp_path_factory.mktemp("adversarial-baum-sweet"))


@pytest.mark.parametrize("name", sorted(BATCH))
def test_each_submission_gets_exactly_the_points_it_earned(batch, name):
    assert_row(BATCH, batch["rows"], name)


def test_feedback_explains_visible_misses_and_hides_hidden_cases(batch):
    feedback = batch["output"] / "feedback"
    page = (feedback / "mutant_label_final_block_ignored_classifier_first_position.html").read_text()
    assert "the logits come from the FIRST position" in page
    page = (feedback / "library_through_alias.html").read_text()
    assert "baum_sweet_label uses `reference_label`, which line 1 of your answers binds to" in page
    page = (feedback / "visible_numbers_only.html").read_text()
    assert "a hidden case of baum_sweet_label failed" in page
    assert_nothing_leaked_or_left(batch, SECRETS)
