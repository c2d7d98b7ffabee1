"""The params chapter graded through `course grade` in ONE batch of crafted submissions.

The batch (tests/grading/adversarial.py) holds a correct and a blank control, the attacks that broke
the old grader (issue 13) and more, crashes and broken files, and the chapter's typical wrong answers.
Every file must get one row with exactly the points each cell earned; nothing returned may hold a
solution or a hidden case; the submissions and the repository must be byte-for-byte unchanged;
no process of a submission may outlive the batch.
"""

import ast
import csv
import html
import json
import re

import pytest

from course_lib import cli
from course_lib.grading.isolation import bubblewrap
from adversarial import BATCH, DAEMON_MARKER, POINTS, REPO, SECRETS
from crafting import assert_row, processes_with, repository_files, tree_digest, write_batch

ARGS = ["--jobs", "2", "--timeout", "10", "--notebook-timeout", "40", "--memory", "3072", "--max-output", "1"]

pytestmark = pytest.mark.needs_program("bubblewrap", bubblewrap, "apt-get install bubblewrap")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    work = tmp_path_factory.mktemp("adversarial")
    submitted = write_batch(BATCH, work / "submitted")
    repo_files = repository_files()
    before = tree_digest(submitted), tree_digest(REPO, repo_files)
    output = work / "graded"
    assert cli.main(["grade", "params", str(submitted), "--output", str(output), *ARGS]) == 0
    rows = {json.loads(line)["entry"]: json.loads(line) for line in (output / "rows.jsonl").read_text().splitlines()}
    return {"work": work, "submitted": submitted, "output": output, "rows": rows, "before": before,
            "repo_files": repo_files}


def test_every_file_gets_exactly_one_row_with_a_unique_id(batch):
    with (batch["output"] / "grades.csv").open() as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == len(BATCH)
    assert len({row["student"] for row in table}) == len(BATCH)
    assert sorted(batch["rows"]) == sorted(BATCH)
    assert list(table[0])[1:-3] == list(POINTS)


@pytest.mark.parametrize("name", sorted(BATCH))
def test_each_submission_gets_exactly_the_points_it_earned(batch, name):
    assert_row(BATCH, batch["rows"], name)


def test_colliding_and_long_names_get_distinct_ids(batch):
    rows = batch["rows"]
    assert (rows["a b"]["student"], rows["a_b"]["student"]) == ("a_b", "a_b-2")
    assert (rows["josè"]["student"], rows["josé"]["student"]) == ("jose", "jose-2")
    assert rows[".dotfile"]["student"] == "dotfile"
    assert len(rows["n" * 239]["student"]) == 64


def test_nothing_returned_holds_a_solution_or_a_hidden_case(batch):
    returned = [p for p in batch["output"].rglob("*") if p.is_file()]
    assert len(returned) > 2 * len(BATCH) - 10
    for path in returned:
        text = path.read_text(errors="replace")
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} in {path.name}"
    assert not (batch["output"] / ".work").exists()  # no template (hidden tests) left behind


def test_the_sandbox_saw_none_of_the_course(batch):
    page = html.unescape((batch["output"] / "feedback" / f"{batch['rows']['read_secrets']['student']}.html").read_text())
    # The root holds only the system, the environment, the library and the scratch folder (which
    # other folders appear depends on where the repository and the venv live, so none is named).
    root = set(ast.literal_eval(re.search(r"LIST / (\[[^\]]*\])", page).group(1)))
    assert {"scratch", "usr", "proc", "dev"} <= root
    assert not root & {"etc", "home", "opt", "srv", "mnt", "var"}, root
    assert "PWD=/work" not in page and "PWD=/\x00" in page  # not even the grader's working directory
    assert "cannot read /work/wt-grading/solutions/params/params.ipynb" in page
    assert "cannot read /work/main/grader/params.py" in page
    written = html.unescape((batch["output"] / "feedback" / f"{batch['rows']['write_everywhere']['student']}.html")
                            .read_text())
    # only the private scratch folder (the working directory) took a write
    assert [line for line in written.splitlines() if line.startswith("WROTE")] == [
        "WROTE nbgrader_config.py", "WROTE /scratch/.jupyter/nbgrader_config.py"]
    assert "cannot write /work/wt-grading/README.md Read-only file system" in written
    assert "scratch is capped: No space left on device" in written


def test_submissions_and_repository_are_byte_for_byte_unchanged(batch):
    assert tree_digest(batch["submitted"]) == batch["before"][0]
    assert tree_digest(REPO, batch["repo_files"]) == batch["before"][1]


def test_no_process_of_a_submission_outlives_the_batch(batch):
    assert processes_with(DAEMON_MARKER) == []
    assert processes_with("course_lib.grading.oracle") == []


def test_feedback_is_safe_to_hand_back(batch):
    feedback = batch["output"] / "feedback"
    page = (feedback / f"{batch['rows']['script_in_answers']['student']}.html").read_text()
    assert "<script>alert" not in page and not re.search(r"<[^>]*\bonerror\s*=", page)  # no live script or handler
    assert "&lt;script&gt;alert" in page  # what the cell printed, shown as text
    assert "to be graded by a person (2.0 points)" in page
    hidden = (feedback / f"{batch['rows']['mutant_hardcoded_visible']['student']}.html").read_text()
    assert "a hidden case of linear_params failed" in hidden
    visible = (feedback / f"{batch['rows']['mutant_lstm_three_gates']['student']}.html").read_text()
    assert "lstm_params(128, 100): expected 91,600, got 68,700" in visible


def test_a_second_run_skips_what_it_graded_and_writes_the_same_grades(batch):
    before = (batch["output"] / "grades.csv").read_bytes()
    lines = len((batch["output"] / "rows.jsonl").read_text().splitlines())
    assert cli.main(["grade", "params", str(batch["submitted"]), "--output", str(batch["output"]), *ARGS]) == 0
    assert (batch["output"] / "grades.csv").read_bytes() == before
    assert len((batch["output"] / "rows.jsonl").read_text().splitlines()) == lines
