"""The bptt chapter graded through `course grade` in one batch of crafted submissions (see
adversarial_bptt.py): exact points per cell."""

import pytest

from course_lib.grading.isolation import bubblewrap
from adversarial_bptt import BATCH
from crafting import assert_row, grade_batch

pytestmark = pytest.mark.needs_program("bubblewrap", bubblewrap, "apt-get install bubblewrap")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    return grade_batch("bptt", BATCH, tmp_path_factory.mktemp("adversarial-bptt"),
                       "--jobs", "2", "--timeout", "30", "--notebook-timeout", "120")


@pytest.mark.parametrize("name", sorted(BATCH))
def test_each_submission_gets_exactly_the_points_it_earned(batch, name):
    assert_row(BATCH, batch["rows"], name)


def test_the_autograd_shortcut_is_named_in_feedback(batch):
    page = (batch["output"] / "feedback" / "autograd_backward.html").read_text()
    assert "rnn_backward uses `.backward`" in page or "rnn_backward uses `.requires_grad_`" in page
