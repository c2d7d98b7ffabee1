"""Every chapter's notebooks: the student notebook is fresh, and the autograder scores correctly.

nbval runs the instructor notebooks themselves (see pyproject.toml); here each chapter is
released and autograded through real nbgrader in a temporary course folder.
"""

import nbformat
import pytest

from course_lib.grading.autograde import autograde
from course_lib.course_root import find_course
from course_lib.grading.course import chapters
from course_lib.grading.release import release
from course_lib.grading.trusted import make_plan

REPO = find_course(__file__)  # the checkout these tests belong to
CHAPTERS = chapters(REPO / "solutions")


def solution_path(chapter):
    return REPO / "solutions" / chapter / f"{chapter}.ipynb"


def graded_cells(notebook):
    return [cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade")]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_solution_is_committed_without_outputs(chapter):
    notebook = nbformat.read(solution_path(chapter), as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, \
                f"{chapter}: cell {index} has outputs; strip them before committing"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_graded_cell_states_its_points_and_has_hidden_cases(chapter):
    """A chapter on trusted checks names a check in every test cell, and the instructor's grader/ module
    has hidden cases for each; a chapter still on the old path hides tests in its test cells."""
    notebook = nbformat.read(solution_path(chapter), as_version=4)
    cells = graded_cells(notebook)
    assert cells, f"{chapter} has no graded cell"
    plan = make_plan(chapter, notebook, REPO)
    for cell in cells:
        meta = cell.metadata["nbgrader"]
        assert meta.get("points", 0) > 0, f"{chapter}: graded cell {meta['grade_id']} has no points"
        if cell.cell_type != "code":
            continue
        if plan is None:
            assert "### BEGIN HIDDEN TESTS" in cell.source, \
                f"{chapter}: test cell {meta['grade_id']} has no hidden tests"
        else:
            assert "HIDDEN" not in cell.source, f"{chapter}: {meta['grade_id']} keeps hidden tests in the notebook"
            assert plan.hidden.get(plan.checks[meta["grade_id"]]), \
                f"{chapter}: grader/{chapter}.py has no hidden cases for {plan.checks[meta['grade_id']]}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_student_notebook_is_what_nbgrader_makes_of_the_solution(chapter):
    assert release([chapter], check_only=True) == [], \
        f"notebooks/{chapter} is stale: run `course release {chapter}` and commit the result"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_autograder_gives_the_solution_full_marks_and_the_untouched_notebook_zero(chapter):
    scores = autograde(chapter, {
        "solution": solution_path(chapter),
        "untouched": REPO / "notebooks" / chapter / f"{chapter}.ipynb",
    })
    for cell in scores["solution"].cells.values():
        if not cell.needs_manual_grade:
            assert cell.score == cell.max_score, \
                f"{chapter}: the solution scores {cell.score}/{cell.max_score} on {cell.grade_id}"
    for cell in scores["untouched"].cells.values():
        assert cell.score == 0, f"{chapter}: the untouched notebook scores {cell.score} on {cell.grade_id}"
