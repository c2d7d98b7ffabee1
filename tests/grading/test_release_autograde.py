"""Releasing and autograding through real nbgrader, on a two-exercise toy chapter built here."""

import json

import nbformat
import pytest

from course_lib.grading.autograde import autograde
from course_lib.grading.release import release


def nbgrader_cell(cell, **fields):
    cell.metadata["nbgrader"] = {"schema_version": 3, "task": False, **fields}
    return cell


def toy_chapter_notebook():
    v4 = nbformat.v4
    notebook = v4.new_notebook()
    notebook.cells = [
        v4.new_markdown_cell("# Toy chapter"),
        nbgrader_cell(v4.new_code_cell("def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION"),
                      grade=False, grade_id="add", locked=False, solution=True),
        nbgrader_cell(v4.new_code_cell("assert add(1, 2) == 3\n### BEGIN HIDDEN TESTS\nassert add(-4, 2) == -2\n"
                                       "### END HIDDEN TESTS"),
                      grade=True, grade_id="test_add", locked=True, points=2, solution=False),
        nbgrader_cell(v4.new_code_cell("def double(a):\n    ### BEGIN SOLUTION\n    return 2 * a\n    ### END SOLUTION"),
                      grade=False, grade_id="double", locked=False, solution=True),
        nbgrader_cell(v4.new_code_cell("assert double(3) == 6"),
                      grade=True, grade_id="test_double", locked=True, points=1, solution=False),
        nbgrader_cell(v4.new_markdown_cell("Addition commutes."),
                      grade=True, grade_id="why", locked=False, points=1, solution=True),
    ]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


TOY_RELEASE = '[tool.course.release]\nrepository = "https://example.org/toy-student"\ntag = "t1"\n'


@pytest.fixture
def toy_repo(tmp_path):
    (tmp_path / "solutions" / "toy").mkdir(parents=True)
    nbformat.write(toy_chapter_notebook(), tmp_path / "solutions" / "toy" / "toy.ipynb")
    (tmp_path / "pyproject.toml").write_text(TOY_RELEASE)
    return tmp_path


def test_release_writes_the_student_notebook_then_finds_it_fresh(toy_repo):
    assert release(repo=toy_repo) == ["toy"]
    student = toy_repo / "notebooks" / "toy" / "toy.ipynb"
    text = student.read_text()
    assert "raise NotImplementedError" in text and "return a + b" not in text
    assert "HIDDEN" not in text and "-4" not in text
    assert json.loads(text)["metadata"] == {"course": {"chapter": "toy"},
                                            "kernelspec": {"display_name": "Python 3 (ipykernel)",
                                                          "language": "python", "name": "python3"},
                                            "language_info": {"name": "python"}}
    first_cell = json.loads(text)["cells"][0]
    assert first_cell["id"] == "course-setup" and "git+https://example.org/toy-student.git@t1" in "".join(
        first_cell["source"])
    first = student.read_bytes()
    assert release(repo=toy_repo) == []  # a second run changes nothing, byte for byte
    assert student.read_bytes() == first
    assert release(repo=toy_repo, check_only=True) == []


def test_release_check_reports_a_stale_chapter_without_writing(toy_repo):
    release(repo=toy_repo)
    source = toy_repo / "solutions" / "toy" / "toy.ipynb"
    notebook = nbformat.read(source, as_version=4)
    notebook.cells[0].source = "# Toy chapter, revised"
    nbformat.write(notebook, source)
    before = (toy_repo / "notebooks" / "toy" / "toy.ipynb").read_bytes()
    assert release(repo=toy_repo, check_only=True) == ["toy"]
    assert (toy_repo / "notebooks" / "toy" / "toy.ipynb").read_bytes() == before


def test_autograde_gives_the_solution_full_marks_and_the_untouched_notebook_zero(toy_repo):
    release(repo=toy_repo)
    half_right = nbformat.read(toy_repo / "notebooks" / "toy" / "toy.ipynb", as_version=4)
    answers = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell for cell in half_right.cells}
    answers["add"].source = "def add(a, b):\n    return a + b if a > 0 else 0"  # fails the hidden test
    answers["double"].source = "def double(a):\n    return a + a"
    nbformat.write(half_right, toy_repo / "half.ipynb")
    scores = autograde("toy", {
        "solution": toy_repo / "solutions" / "toy" / "toy.ipynb",
        "untouched": toy_repo / "notebooks" / "toy" / "toy.ipynb",
        "half": toy_repo / "half.ipynb",
    }, solutions_dir=toy_repo / "solutions")
    auto = {student: {cell: s.score for cell, s in result.cells.items() if not s.needs_manual_grade}
            for student, result in scores.items()}
    assert auto["solution"] == {"test_add": 2.0, "test_double": 1.0}
    assert auto["untouched"] == {"test_add": 0.0, "test_double": 0.0, "why": 0.0}
    assert auto["half"] == {"test_add": 0.0, "test_double": 1.0, "why": 0.0}  # an unanswered answer is 0
    assert scores["solution"].max_score == 4.0
    assert scores["solution"].cells["why"].needs_manual_grade
