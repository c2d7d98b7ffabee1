"""The grammars chapter graded through `course grade` in one batch of crafted submissions (see
adversarial_grammars.py): exact points per cell, nothing secret returned, nothing left behind."""

import pytest

from adversarial_grammars import BATCH
from checking import assert_nothing_leaked_or_left, grade_chapter_batch
from crafting import assert_row

# the instructor's half (grader/grammars.py): its seeds and generators must never reach a student
SECRETS = ("default_rng(909)", "default_rng(919)", "def corrupt", "seed=91", "HIDDEN = {")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    return grade_chapter_batch("grammars", BATCH, tmp_path_factory.mktemp("adversarial-grammars"))


@pytest.mark.parametrize("name", sorted(BATCH))
def test_each_submission_gets_exactly_the_points_it_earned(batch, name):
    assert_row(BATCH, batch["rows"], name)


def test_feedback_explains_visible_misses_and_hides_hidden_cases(batch):
    feedback = batch["output"] / "feedback"
    page = (feedback / "mutant_ndfa_any_order_step_without_zero_grad.html").read_text()
    assert "Clear the old gradients (optimizer.zero_grad()) before backward()." in page
    page = (feedback / "library_validator_and_regex.html").read_text()
    assert "is_dyck uses `validate`, which line 1 of your answers binds to `grammars.is_valid`" in page
    assert "ndfa_accepts uses `patterns`, which line 1 of your answers binds to `import re`" in page
    page = (feedback / "mutant_dyck_stack_never_pops_fraction_ignores_end.html").read_text()
    assert "is_dyck('()') returned False, expected True." in page
    assert "valid_fraction = 0.600 counts rows that never wrote .end (expected 0.400)" in page
    assert_nothing_leaked_or_left(batch, SECRETS)
