"""`course check`: a blank and a solved params notebook, and the parts of the report on small notebooks."""

from __future__ import annotations

import nbformat
import pytest

from course_lib import cli
from course_lib.check import chapter_of, check_notebook
from crafting import Crafting

PARAMS = Crafting("params")


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("check")
    found = {}
    for kind, notebook in (("blank", PARAMS.blank()), ("solved", PARAMS.correct())):
        path = folder / kind / "params.ipynb"
        path.parent.mkdir()
        nbformat.write(notebook, path)
        before = path.read_bytes()
        found[kind] = check_notebook(path)
        assert path.read_bytes() == before  # the student's file is left as it was
    return found


def answer_ids() -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in PARAMS.release.cells
            if c.metadata.get("nbgrader", {}).get("solution")]


def test_a_solved_notebook_is_ready(reports):
    report = reports["solved"]
    assert (report.chapter, report.chapter_from) == ("params", "from the notebook's metadata")
    assert report.blank == [] and report.crash is None and not report.asks_name
    assert [t.grade_id for t in report.tests] == PARAMS.tests and all(t.passed for t in report.tests)
    points = sum(PARAMS.points[t] for t in PARAMS.tests)
    lines = str(report).splitlines()
    assert lines[:4] == ["params.ipynb: the params assignment (from the notebook's metadata)",
                         "blank answers: none", "runs top to bottom: yes",
                         f"visible tests: {len(PARAMS.tests)} of {len(PARAMS.tests)} pass ({points:g} of {points:g} points)"]
    assert lines[-2:] == [f"written answers, graded by a person: {', '.join(PARAMS.written)}",
                          "ready to hand in (hidden tests are run by the grader)"]
    assert report.ready


def test_a_blank_notebook_is_not_ready_and_says_why(reports):
    report = reports["blank"]
    assert report.blank == answer_ids()
    assert report.crash.endswith("raised NotImplementedError (and 1 more cell)")
    assert not [t for t in report.tests if t.passed]
    assert report.tests[0].error == "CheckFailed: linear_params(100, 2) raised NotImplementedError:"
    assert str(report).splitlines()[-1] == "NOT ready to hand in" and not report.ready


def small_notebook(*sources: str, test: str) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    answer = nbformat.v4.new_code_cell("def f():\n    return 1")
    answer.metadata["nbgrader"] = {"grade_id": "f", "solution": True, "grade": False, "locked": False}
    tested = nbformat.v4.new_code_cell(test)
    tested.metadata["nbgrader"] = {"grade_id": "test_f", "solution": False, "grade": True, "points": 2}
    notebook.cells += [answer, tested]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def test_the_name_a_crash_and_the_command(tmp_path, capsys):
    path = tmp_path / "toy (1).ipynb"
    nbformat.write(small_notebook('NAME = ""', "1 / 0", test="assert f() == 1"), path)
    assert cli.main(["check", str(path), "--timeout", "60"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "toy (1).ipynb: the toy assignment (from the file name)",
        'name: MISSING -- fill in NAME = "..." at the top',
        "blank answers: none",
        "runs top to bottom: NO -- cell 2 raised ZeroDivisionError: division by zero",
        "visible tests: 1 of 1 pass (2 of 2 points)",
        "  pass  test_f",
        "NOT ready to hand in",
    ]
    nbformat.write(small_notebook('NAME = "Ada Lovelace"', test="assert f() == 2, 'f() should be 2'"), path)
    report = check_notebook(path, cell_timeout=60)
    assert (report.name, report.crash, report.tests[0].error) == ("Ada Lovelace", None, "AssertionError: f() should be 2")


def test_a_file_that_is_not_a_notebook_is_explained(tmp_path, capsys):
    (tmp_path / "params.ipynb").write_text("not json")
    assert cli.main(["check", str(tmp_path / "params.ipynb")]) == 1
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize("name, chapter", [("params.ipynb", "params"), ("params (1).ipynb", "params"),
                                           ("cells-final.ipynb", "cells"), ("word_lm copy.ipynb", "word_lm")])
def test_the_chapter_from_a_file_name(tmp_path, name, chapter):
    assert chapter_of(nbformat.v4.new_notebook(), tmp_path / name) == (chapter, "from the file name")
