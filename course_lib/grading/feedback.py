"""Feedback that does not give the hidden tests away.

nbgrader's ``generate_feedback`` renders the autograded notebook, whose test cells hold the
hidden tests and whose failures print them. :class:`HideHiddenTests` runs first in that pipeline:
a test cell's hidden region is removed from its source, an error raised from inside that
region is replaced by a message that says only that the hidden tests failed, and an error from
the visible part keeps its message but loses its traceback frames (IPython quotes the lines
around the failing one, which may be hidden ones).
"""

from __future__ import annotations

import re

from nbformat import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor

# nbgrader's own delimiters (its defaults; the course does not change them).
BEGIN = f"### {ClearHiddenTests.begin_test_delimeter.default_value}"
END = f"### {ClearHiddenTests.end_test_delimeter.default_value}"
HIDDEN_FAILURE = ("A hidden test failed: your code passes the visible tests but not the tests with "
                  "other sizes and seeds. Check edge cases and that nothing depends on the visible example.")
# Errors the grader itself wrote (a cell not run, a time limit) say nothing about the tests.
KEEP_ERRORS = ("NotRun", "CellTimeoutError")
# IPython tracebacks name the failing line of the cell as "Cell In[7], line 12" (or "<ipython-input-7-...> in
# <module>\n---> 12"); ANSI colour codes sit in between, so they are stripped first.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CELL_LINE = re.compile(r"(?:Cell In\s*\[\d*\],\s*line\s*(\d+))|(?:-+>\s*(\d+))")


def hidden_line_range(source: str) -> tuple[int, int] | None:
    """1-based first and last line numbers of the hidden region of a test cell, or None."""
    lines = source.splitlines()
    starts = [i for i, line in enumerate(lines, 1) if line.strip() == BEGIN]
    ends = [i for i, line in enumerate(lines, 1) if line.strip() == END]
    if not starts:
        return None
    return starts[0], ends[-1] if ends else len(lines)


def failing_line(traceback: list[str]) -> int | None:
    """The line of the cell itself at which an IPython traceback says the error was raised."""
    for frame in traceback:
        match = _CELL_LINE.search(_ANSI.sub("", frame))
        if match:
            return int(match.group(1) or match.group(2))
    return None


def strip_hidden(source: str) -> str:
    region = hidden_line_range(source)
    if region is None:
        return source
    lines = source.splitlines()
    return "\n".join(lines[: region[0] - 1] + lines[region[1]:])


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden tests from test cells and mask the failures they raised."""

    # The autograder ran each test cell with one extra first line (the integrity restore).
    line_offset = 1

    def preprocess_cell(self, cell: NotebookNode, resources, index):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            return cell, resources
        region = hidden_line_range(cell.source)
        if region is None:
            return cell, resources
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and output.get("ename") not in KEEP_ERRORS:
                line = failing_line(output.get("traceback", []))
                if line is None or region[0] <= line - self.line_offset:  # unknown, or in/after hidden
                    output = NotebookNode(output_type="error", ename="HiddenTestFailed", evalue=HIDDEN_FAILURE,
                                          traceback=[f"HiddenTestFailed: {HIDDEN_FAILURE}"])
                else:  # a visible test failed: keep its message, drop the frames (they quote nearby lines)
                    output = NotebookNode(output_type="error", ename=output.ename, evalue=output.evalue,
                                          traceback=[f"{output.ename}: {output.evalue}"])
            outputs.append(output)
        cell.outputs = outputs
        cell.source = strip_hidden(cell.source)
        return cell, resources
