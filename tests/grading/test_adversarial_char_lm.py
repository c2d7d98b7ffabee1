"""The char_lm chapter graded through `course grade` in one batch of crafted submissions (see
adversarial_char_lm.py): exact points per cell."""

import pytest

from adversarial_char_lm import BATCH
from crafting import assert_row, grade_batch


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    return grade_batch("char_lm", BATCH, tmp_path_factory.mktemp("adversarial-char-lm"),
                       "--jobs", "2", "--timeout", "60", "--notebook-timeout", "180")


@pytest.mark.parametrize("name", sorted(BATCH))
def test_each_submission_gets_exactly_the_points_it_earned(batch, name):
    assert_row(BATCH, batch["rows"], name)


def test_feedback_names_the_mistake_and_hides_hidden_cases(batch):
    feedback = batch["output"] / "feedback"
    assert "the inverse temperature" in (feedback / "mutant_inverse_temperature_unshifted_targets_loop_start.html").read_text()
    assert "stream_tools" in (feedback / "library_windows_through_alias.html").read_text()
    tuned = (feedback / "sample_tuned_to_visible_seed.html").read_text()
    assert "a hidden case of sample failed" in tuned and "draws seeded 11" not in tuned
