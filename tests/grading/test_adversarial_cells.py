"""The cells chapter graded through `course grade` in one batch of crafted submissions (see
adversarial_cells.py): exact points per cell, nothing secret returned, nothing left behind."""

import json

import pytest

from course_lib import cli
from adversarial import SECRETS
from adversarial_cells import BATCH
from crafting import assert_row, processes_with, write_batch


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    work = tmp_path_factory.mktemp("adversarial-cells")
    submitted = write_batch(BATCH, work / "submitted")
    output = work / "graded"
    assert cli.main(["grade", "cells", str(submitted), "--output", str(output), "--jobs", "2", "--timeout", "20",
                     "--notebook-timeout", "120"]) == 0
    rows = {json.loads(line)["entry"]: json.loads(line) for line in (output / "rows.jsonl").read_text().splitlines()}
    return {"output": output, "rows": rows}


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
