"""The LEGACY kernel path (``course grade --legacy-kernel``, chapters not yet on trusted checks)
against crafted submissions: exact scores, a finished batch, nothing lost. The trusted path's own
batch is test_adversarial.py.

The submissions are in fixtures/submitted (made by fixtures/make_fixtures.py, which documents
each one); the 100 MB-output notebook is made here. All are graded in ONE batch together with a
correct and a wrong submission, as an instructor's class would be.
"""

import hashlib
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from course_lib import cli
from course_lib.grading.grade import Limits, grade_class

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text())
LIMITS = Limits(cell_timeout=10, notebook_timeout=120, memory_mb=3072, max_output_mb=1.0)


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def add_huge_output_submission(submitted: Path) -> None:
    """The correct notebook saved with 100 MB of output in one cell."""
    notebook = nbformat.read(submitted / "correct" / "toy" / "toy.ipynb", as_version=4)
    notebook.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * 100_000_000)]
    (submitted / "huge_output" / "toy").mkdir(parents=True)
    nbformat.write(notebook, submitted / "huge_output" / "toy" / "toy.ipynb")


@pytest.fixture(scope="module")
def graded_batch(tmp_path_factory):
    work = tmp_path_factory.mktemp("robustness")
    submitted = Path(shutil.copytree(FIXTURES / "submitted", work / "submitted"))
    add_huge_output_submission(submitted)
    before = tree_digest(submitted)
    output = work / "graded"
    grades = grade_class("toy", submitted, output, jobs=2, limits=LIMITS, solutions_dir=FIXTURES / "solutions",
                         legacy_kernel=True)
    return {"grades": {g.student: g for g in grades}, "output": output, "submitted": submitted,
            "before": before}


def test_every_submission_is_in_the_report(graded_batch):
    assert sorted(graded_batch["grades"]) == sorted(EXPECTED)
    rows = (graded_batch["output"] / "grades.csv").read_text().splitlines()
    assert rows[0] == "student,test_scale,test_add,why,total,max,status"
    assert len(rows) == 1 + len(EXPECTED)


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_crafted_submission_gets_exactly_the_points_it_earned(graded_batch, student):
    points, status_word = EXPECTED[student]
    grade = graded_batch["grades"][student]
    assert grade.total == points, f"{student}: {grade.scores} ({grade.status})"
    assert status_word in grade.status, f"{student}: status {grade.status!r}"


def test_written_answers_wait_for_a_person_and_blank_ones_score_zero(graded_batch):
    grades = graded_batch["grades"]
    assert grades["correct"].scores["why"] is None  # answered: needs manual grading
    assert grades["empty"].scores["why"] == 0.0


def test_feedback_is_written_and_hides_the_hidden_tests(graded_batch):
    feedback = graded_batch["output"] / "feedback"
    for student, (points, status) in EXPECTED.items():
        if status.startswith(("not ", "empty")):
            assert not (feedback / f"{student}.html").exists()
            continue
        html = (feedback / f"{student}.html").read_text()
        # the hidden tests' own text (a student's code may mention assert_allclose itself)
        assert "scale(arange, -3)" not in html and "add(torch.arange(3.0)" not in html, student
    wrong = (feedback / "wrong.html").read_text()
    assert "scale(ones, 2) is wrong" in wrong  # a visible test's message is shown


def test_the_submissions_folder_is_left_untouched(graded_batch):
    assert tree_digest(graded_batch["submitted"]) == graded_batch["before"]


def test_regrading_gives_an_identical_grades_csv(graded_batch, tmp_path):
    subset = tmp_path / "subset"
    for student in ("correct", "wrong", "os_exit", "not_json"):
        shutil.copytree(graded_batch["submitted"] / student, subset / student)
    first = grade_class("toy", subset, tmp_path / "one", limits=LIMITS, solutions_dir=FIXTURES / "solutions",
                        legacy_kernel=True)
    second = grade_class("toy", subset, tmp_path / "two", jobs=2, limits=LIMITS, solutions_dir=FIXTURES / "solutions",
                         legacy_kernel=True)
    assert (tmp_path / "one" / "grades.csv").read_bytes() == (tmp_path / "two" / "grades.csv").read_bytes()
    original = {g.student: g.total for g in graded_batch["grades"].values() if g.student in {s.student for s in first}}
    assert {g.student: g.total for g in second} == original


def test_course_grade_on_a_flat_folder_of_notebooks(tmp_path, capsys):
    flat = tmp_path / "lms"
    flat.mkdir()
    shutil.copyfile(FIXTURES / "submitted" / "correct" / "toy" / "toy.ipynb", flat / "ada.ipynb")
    shutil.copyfile(FIXTURES / "submitted" / "wrong" / "toy" / "toy.ipynb", flat / "grace hopper.ipynb")
    code = cli.main(["grade", "toy", str(flat), "--output", str(tmp_path / "out"), "--jobs", "2",
                     "--timeout", "10", "--solutions", str(FIXTURES / "solutions"), "--legacy-kernel"])
    assert code == 0
    assert (tmp_path / "out" / "grades.csv").read_text().splitlines()[1:] == [
        "ada,2,1,,3,4,ok", "grace_hopper,0,0,,0,4,ok"]
    assert "ada" in capsys.readouterr().out


def test_course_grade_refuses_a_chapter_without_checks_unless_asked(tmp_path, capsys):
    (tmp_path / "subs").mkdir()
    code = cli.main(["grade", "toy", str(tmp_path / "subs"), "--solutions", str(FIXTURES / "solutions")])
    assert code == 1
    assert "has not moved to trusted checks yet" in capsys.readouterr().out


def test_course_grade_explains_an_unknown_chapter(tmp_path, capsys):
    (tmp_path / "subs").mkdir()
    assert cli.main(["grade", "nochapter", str(tmp_path / "subs"), "--solutions", str(FIXTURES / "solutions")]) == 1
    assert "no chapter 'nochapter'" in capsys.readouterr().out
