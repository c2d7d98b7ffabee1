"""The cells chapter graded through `course grade` in one batch of crafted submissions (see
adversarial_cells.py): exact points per cell, nothing secret returned, nothing left behind."""

import pytest

from course_lib.grading.isolation import bubblewrap
from adversarial import SECRETS
from adversarial_cells import BATCH
from crafting import assert_row, grade_batch, processes_with

pytestmark = pytest.mark.needs_program("bubblewrap", bubblewrap, "apt-get install bubblewrap")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    return grade_batch("cells", BATCH, tmp_path_factory.mktemp("adversarial-cells"),
                       "--jobs", "2", "--timeout", "20", "--notebook-timeout", "120")


@pytest.mark.parametrize("name", sorted(BATCH))
def test_each_submission_gets_exactly_the_points_it_earned(batch, name):
    assert_row(BATCH, batch["rows"], name)


def test_feedback_names_the_wrong_gate_and_hides_hidden_cases(batch):
    feedback = batch["output"] / "feedback"
    page = (feedback / "mutant_lstm_gate_order_ifog.html").read_text()
    assert "check g (rows 2H:3H, tanh; the order is i, f, g, o)" in page
    page = (feedback / "mutant_unroll_ignores_lengths.html").read_text()
    assert "the outputs at padded steps must be zero" in page
    for path in batch["output"].rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not [s for s in SECRETS if s in text], path.name
    assert processes_with("course_lib.grading.oracle") == []
