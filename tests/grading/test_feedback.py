"""Hidden tests stay hidden in feedback: the pure parts of the feedback step."""

from nbformat import v4

from course_lib.grading.feedback import HIDDEN_FAILURE, HideHiddenTests, failing_line, hidden_line_range

SOURCE = "check(a)\n### BEGIN HIDDEN TESTS\ncheck(secret)\n### END HIDDEN TESTS"


def graded_test_cell(outputs):
    cell = v4.new_code_cell(SOURCE)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": 1}
    cell.outputs = outputs
    return cell


def error(line, evalue):
    # what IPython writes: ANSI colours, the cell's frame with its line, context lines around it
    return v4.new_output("error", ename="CheckFailed", evalue=evalue, traceback=[
        "\x1b[0;31m---------\x1b[0m", f"Cell \x1b[0;32mIn[5], line {line}\x1b[0m\n  check(secret)", "CheckFailed"])


def test_hidden_region_and_failing_line():
    assert hidden_line_range(SOURCE) == (2, 4)
    assert failing_line(error(7, "x")["traceback"]) == 7
    assert failing_line(["no frames"]) is None


def test_a_hidden_failure_is_masked_and_the_hidden_source_removed():
    # the grader ran the cell with one extra first line, so hidden line 3 appears as line 4
    cell, _ = HideHiddenTests().preprocess_cell(graded_test_cell([error(4, "secret is wrong")]), {}, 0)
    assert "secret" not in cell.source and cell.source == "check(a)"
    assert cell.outputs[0].evalue == HIDDEN_FAILURE and "secret" not in str(cell.outputs)


def test_a_visible_failure_keeps_its_message_but_not_its_context_lines():
    cell, _ = HideHiddenTests().preprocess_cell(graded_test_cell([error(2, "a is wrong")]), {}, 0)
    assert cell.outputs[0].evalue == "a is wrong"
    assert cell.outputs[0].traceback == ["CheckFailed: a is wrong"]
