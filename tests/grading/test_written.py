"""Written answers: the side-by-side pages (sanitised), the scores CSV, merging it (and a formgrader
gradebook) into grades.csv and the feedback, and scores files that must be refused."""

from __future__ import annotations

import csv
import json
import re
import shutil

import pytest

from course_lib import cli
from course_lib.grading.written import WrittenError, merge
from crafting import Crafting, cell_of, write_batch

PARAMS = Crafting("params")
QUESTION = PARAMS.written[0]  # answer_two_biases, 2 points
XSS = ('Two biases. <script>alert("x")</script> <img src=x onerror="alert(1)"> '
       '[link](javascript:alert(2)) $b_{ih} + b_{hh}$')


def with_answer(text):
    notebook = PARAMS.correct()
    cell_of(notebook, QUESTION).source = text
    return notebook


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    work = tmp_path_factory.mktemp("written")
    batch = {"correct": (PARAMS.correct(), None, ""), "blank": (PARAMS.blank(), None, ""),
             "xss": (with_answer(XSS), None, "")}
    submitted = write_batch(batch, work / "submitted")
    output = work / "graded"
    assert cli.main(["grade", "params", str(submitted), "--output", str(output), "--jobs", "2"]) == 0
    return output


def fresh_copy(graded, tmp_path):
    return shutil.copytree(graded, tmp_path / "graded")


def table(output):
    return {row["student"]: row for row in csv.DictReader((output / "grades.csv").open())}


def test_one_page_per_written_question_with_every_answer_and_nothing_live(graded):
    pages = sorted(p.name for p in (graded / "written").glob("*.html"))
    assert pages == [f"{QUESTION}.html"]
    page = (graded / "written" / f"{QUESTION}.html").read_text()
    assert [m for m in re.findall(r"<h2>([^<]*)</h2>", page)] == ["blank", "correct", "xss"]
    assert "Exercise 9: explain the difference" in page  # the question itself
    assert "<script>alert" not in page and not re.search(r"<[^>]*onerror", page) and "javascript:" not in page
    assert "&lt;script&gt;alert" in page and "<p>Two biases." in page  # shown as text, in a paragraph
    assert "$b_{ih} + b_{hh}$" in page  # math left for MathJax


def test_the_scores_csv_lists_every_student_and_question_to_fill_in(graded):
    rows = list(csv.reader((graded / "written" / "scores.csv").open()))
    assert rows == [["student", "question", "max_points", "points", "comment"],
                    ["blank", QUESTION, "2", "", ""], ["correct", QUESTION, "2", "", ""],
                    ["xss", QUESTION, "2", "", ""]]


def test_merging_scores_updates_grades_and_regenerates_feedback(graded, tmp_path):
    output = fresh_copy(graded, tmp_path)
    assert (table(output)["correct"][QUESTION], table(output)["blank"][QUESTION]) == ("", "0")  # waits for a person
    scores = tmp_path / "scores.csv"
    scores.write_text("student,question,max_points,points,comment\n"
                      f"correct,{QUESTION},2,1.5,Good: <img src=x onerror=alert(1)> but (b) is missing\n"
                      f"xss,{QUESTION},2,0,\n"
                      f"blank,{QUESTION},2,,\n")
    assert cli.main(["grade-written", "merge", str(output), str(scores)]) == 0
    rows = table(output)
    assert (rows["correct"][QUESTION], rows["correct"]["total"]) == ("1.5", "20.5")
    assert (rows["xss"][QUESTION], rows["xss"]["total"]) == ("0", "19")
    assert (rows["blank"][QUESTION], rows["blank"]["total"]) == ("0", "0")  # a blank answer: 0 (nbgrader's rule)
    page = (output / "feedback" / "correct.html").read_text()
    assert "Score: 1.5 / 2.0" in page and "but (b) is missing" in page
    assert not re.search(r"<[^>]*onerror", page)
    last = [json.loads(line) for line in (output / "rows.jsonl").read_text().splitlines()][-1]
    assert last["scores"][QUESTION] in (1.5, 0.0)


@pytest.mark.parametrize("line, problem", [
    (f"mallory,{QUESTION},2,2,", "no student 'mallory'"),
    ("correct,test_linear_params,1,1,", "is not a written question"),
    (f"correct,{QUESTION},2,3,", "from 0 to 2"),
    (f"correct,{QUESTION},2,-1,", "from 0 to 2"),
    (f"correct,{QUESTION},2,nan,", "from 0 to 2"),
    (f"correct,{QUESTION},2,=1+1,", "from 0 to 2"),
    (f"correct,{QUESTION},2,1,{'x' * 5001}", "longer than 5000"),
])
def test_a_bad_row_stops_the_merge_before_anything_is_written(graded, tmp_path, line, problem):
    output = fresh_copy(graded, tmp_path)
    before = (output / "grades.csv").read_bytes(), (output / "feedback" / "correct.html").read_bytes()
    scores = tmp_path / "scores.csv"
    scores.write_text(f"student,question,max_points,points,comment\ncorrect,{QUESTION},2,2,fine\n{line}\n")
    with pytest.raises(WrittenError, match=re.escape(problem)) as raised:
        merge(output, scores)
    assert "line 3" in str(raised.value)
    assert ((output / "grades.csv").read_bytes(), (output / "feedback" / "correct.html").read_bytes()) == before


def test_a_student_graded_twice_in_one_file_is_refused(graded, tmp_path):
    scores = tmp_path / "scores.csv"
    scores.write_text(f"student,question,max_points,points,comment\ncorrect,{QUESTION},2,2,\ncorrect,{QUESTION},2,1,\n")
    with pytest.raises(WrittenError, match="graded twice"):
        merge(fresh_copy(graded, tmp_path), scores)


def test_nbgraders_formgrader_can_grade_them_instead(graded, tmp_path):
    from nbgrader.api import Gradebook

    output = fresh_copy(graded, tmp_path)
    course = tmp_path / "formgrader"
    assert cli.main(["grade-written", "formgrader", str(output), str(course)]) == 0
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:  # what formgrader does on "save"
        grade = gradebook.find_grade(QUESTION, "params", "params", "correct")
        grade.manual_score = 2.0
        gradebook.db.commit()
    assert cli.main(["grade-written", "merge", str(output), "--gradebook", str(course / "gradebook.db")]) == 0
    assert (table(output)["correct"][QUESTION], table(output)["correct"]["total"]) == ("2", "21")


def test_course_grade_reports_identical_code_as_similar_and_blank_answers_not(graded):
    with (graded / "similarity" / "pairs.csv").open() as handle:
        pairs = {(row["student"], row["other_student"]) for row in csv.DictReader(handle)}
    assert pairs == {("correct", "xss")}
    assert (graded / "similarity" / "index.html").is_file()
