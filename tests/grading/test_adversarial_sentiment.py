"""The sentiment chapter graded through `course grade` in one batch of crafted submissions (see
adversarial_sentiment.py): exact points per cell."""

import pytest

from adversarial_sentiment import BATCH
from crafting import assert_row, grade_batch


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    return grade_batch("sentiment", BATCH, tmp_path_factory.mktemp("adversarial-sentiment"),
                       "--jobs", "2", "--timeout", "30", "--notebook-timeout", "120")


@pytest.mark.parametrize("name", sorted(BATCH))
def test_each_submission_gets_exactly_the_points_it_earned(batch, name):
    assert_row(BATCH, batch["rows"], name)


def test_the_feedback_names_the_mistake(batch):
    feedback = batch["output"] / "feedback"
    assert "collate uses `pad_batch`, which line 1 of your answers binds to" in (feedback / "aliased_library_collate.html").read_text()
    assert "True at padding" in (feedback / "mutant_mask_true_at_padding.html").read_text()
    assert "Elman body" in (feedback / "mutant_elman_body_for_lstm.html").read_text()
