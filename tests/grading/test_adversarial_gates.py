"""The gates chapter graded through `course grade` in one batch of crafted submissions (see
adversarial_gates.py): exact points per cell."""

import pytest

from adversarial_gates import BATCH
from crafting import assert_row, grade_batch


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    return grade_batch("gates", BATCH, tmp_path_factory.mktemp("adversarial-gates"),
                       "--jobs", "2", "--timeout", "30", "--notebook-timeout", "120")


@pytest.mark.parametrize("name", sorted(BATCH))
def test_each_submission_gets_exactly_the_points_it_earned(batch, name):
    assert_row(BATCH, batch["rows"], name)


def test_the_feedback_names_the_mistake(batch):
    feedback = batch["output"] / "feedback"
    assert "torch.nn.LSTM stacks them as i, f, g, o" in (feedback / "mutant_gate_order_ifog.html").read_text()
    assert "return the cell state c_t itself" in (feedback / "mutant_tanh_c_as_cell.html").read_text()
    assert "lstm_gates uses `record_gates`" in (feedback / "recorded_gates.html").read_text()


def test_a_failed_hidden_case_says_which_exercise_and_nothing_of_the_case(batch):
    page = (batch["output"] / "feedback" / "mutant_saturation_default_thresholds.html").read_text()
    assert "a hidden case of saturation_fraction failed" in page
    assert "low=0.3" not in page and "high=0.8" not in page
