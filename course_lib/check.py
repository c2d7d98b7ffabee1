"""``course check NOTEBOOK``: is this notebook ready to hand in? (as nbgrader's Validate and otter's check)

Three questions, answered on a copy (the student's file is never changed):

1. **Is it the file you meant?** The chapter (from the notebook's metadata, which ``course release``
   writes, else from the file name), your name where the notebook asks for it (a ``NAME = ""`` line),
   and the answer cells still blank (``raise NotImplementedError`` or ``YOUR ANSWER HERE``).
2. **Does it run from top to bottom?** A fresh kernel runs every cell under the ``smoke`` profile
   (small and quick), each within a time limit; a cell that raises is named.
3. **Which visible tests pass?** A test cell is a code cell nbgrader grades (``grade`` true,
   ``solution`` false); it passes when it runs without an error. Hidden tests are the grader's, so
   passing here is necessary, not sufficient.

From a notebook cell: ``from course_lib.check import check_notebook; print(check_notebook("params.ipynb"))``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

BLANK_CODE = "raise NotImplementedError"
BLANK_TEXT = "YOUR ANSWER HERE"
NAME_LINE = re.compile(r"""^\s*NAME\s*=\s*(['"])(.*?)\1""", re.MULTILINE)
DEFAULT_CELL_TIMEOUT = 300


@dataclass
class TestOutcome:
    grade_id: str
    points: float
    error: str | None  # None: passed

    @property
    def passed(self) -> bool:
        return self.error is None


@dataclass
class CheckReport:
    """What ``course check`` found; ``str(report)`` is its short text, ``report.ready`` the verdict."""

    path: Path
    chapter: str | None
    chapter_from: str
    asks_name: bool
    name: str
    blank: list[str] = field(default_factory=list)   # grade ids of answer cells still blank
    written: list[str] = field(default_factory=list)  # grade ids of answers a person grades
    crash: str | None = None                          # why it did not run from top to bottom
    tests: list[TestOutcome] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return (self.crash is None and not self.blank and all(t.passed for t in self.tests)
                and (self.name or not self.asks_name))

    def __str__(self) -> str:
        lines = [f"{self.path.name}: " + (f"the {self.chapter} assignment ({self.chapter_from})" if self.chapter
                                           else "not an assignment of this course (no chapter found)")]
        if self.asks_name:
            lines.append(f"name: {self.name}" if self.name else "name: MISSING -- fill in NAME = \"...\" at the top")
        lines.append(f"blank answers: {', '.join(self.blank)}" if self.blank else "blank answers: none")
        lines.append("runs top to bottom: yes" if self.crash is None else f"runs top to bottom: NO -- {self.crash}")
        passed = [t for t in self.tests if t.passed]
        lines.append(f"visible tests: {len(passed)} of {len(self.tests)} pass "
                     f"({_points(sum(t.points for t in passed))} of {_points(sum(t.points for t in self.tests))} points)")
        lines += [f"  {'pass' if t.passed else 'FAIL'}  {t.grade_id}" + ("" if t.passed else f": {t.error}")
                  for t in self.tests]
        if self.written:
            lines.append(f"written answers, graded by a person: {', '.join(self.written)}")
        lines.append("ready to hand in (hidden tests are run by the grader)" if self.ready
                     else "NOT ready to hand in")
        return "\n".join(lines)


def _points(value: float) -> str:
    return f"{value:g}"


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _is_test(cell) -> bool:
    meta = _nbgrader(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _is_blank(cell) -> bool:
    return (BLANK_CODE if cell.cell_type == "code" else BLANK_TEXT) in cell.source


def chapter_of(notebook, path: Path) -> tuple[str | None, str]:
    """The chapter and where it came from: the notebook's metadata, else its file name."""
    chapter = notebook.metadata.get("course", {}).get("chapter")
    if chapter:
        return chapter, "from the notebook's metadata"
    stem = re.sub(r"[\s_-]*(\(\d+\)|copy|final|v\d+)$", "", path.stem, flags=re.IGNORECASE)
    return (stem, "from the file name") if stem else (None, "")


def _error_of(cell) -> str | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            value = " ".join(line.strip() for line in output.get("evalue", "").splitlines() if line.strip())
            value = value if len(value) <= 160 else value[:157] + "..."
            return f"{output.get('ename', 'Error')}: {value}" if value else output.get("ename", "Error")
    return None


def _label(index: int, cell) -> str:
    grade_id = _nbgrader(cell).get("grade_id")
    return f"cell {index + 1}" + (f" ({grade_id})" if grade_id else "")


def run_copy(notebook, folder: Path, *, profile: str, cell_timeout: float) -> str | None:
    """Execute ``notebook`` (a copy: outputs are written into it) in a fresh kernel of this Python,
    in ``folder``; every cell runs even after an error. Returns why the run stopped early, or None."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    client = NotebookClient(notebook, timeout=cell_timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(folder)}})
    try:
        client.execute(env={**os.environ, "COURSE_PROFILE": profile})
    except (CellTimeoutError, DeadKernelError) as error:
        index = next((i for i, cell in enumerate(notebook.cells)
                      if cell.cell_type == "code" and cell.get("execution_count") is None), None)
        where = _label(index, notebook.cells[index]) if index is not None else "a cell"
        if isinstance(error, CellTimeoutError):
            return f"{where} did not finish within {cell_timeout:g} s"
        return f"the kernel died in {where} (out of memory?)"
    return None


def check_notebook(path: str | Path, *, profile: str = "smoke",
                   cell_timeout: float = DEFAULT_CELL_TIMEOUT) -> CheckReport:
    """Check a student notebook (see the module's docstring); the file itself is left as it is."""
    import nbformat

    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    chapter, chapter_from = chapter_of(notebook, path)
    names = [match.group(2).strip() for cell in notebook.cells if cell.cell_type == "code"
             for match in NAME_LINE.finditer(cell.source)]
    answers = [cell for cell in notebook.cells if _nbgrader(cell).get("solution")]
    report = CheckReport(
        path, chapter, chapter_from, asks_name=bool(names), name=names[0] if names else "",
        blank=[_nbgrader(cell).get("grade_id", "?") for cell in answers if _is_blank(cell)],
        written=[_nbgrader(cell).get("grade_id", "?") for cell in answers
                 if cell.cell_type == "markdown" and _nbgrader(cell).get("grade")])
    stopped = run_copy(notebook, path.resolve().parent, profile=profile, cell_timeout=cell_timeout)
    errors = [(index, cell) for index, cell in enumerate(notebook.cells)
              if cell.cell_type == "code" and not _is_test(cell) and _error_of(cell)]
    if stopped:
        report.crash = stopped
    elif errors:
        index, cell = errors[0]
        more = f" (and {len(errors) - 1} more cell{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        report.crash = f"{_label(index, cell)} raised {_error_of(cell)}{more}"
    report.tests = [TestOutcome(_nbgrader(cell).get("grade_id", "?"), float(_nbgrader(cell).get("points", 0)),
                                _error_of(cell) if cell.get("execution_count") is not None else "not run")
                    for cell in notebook.cells if _is_test(cell)]
    return report


# --------------------------------------------------------------------------------------------- command

def run_check(args: argparse.Namespace) -> int:
    import nbformat

    try:
        report = check_notebook(args.notebook, profile=args.profile, cell_timeout=args.timeout)
    except (OSError, nbformat.reader.NotJSONError, nbformat.ValidationError) as error:
        print(f"course check: cannot read {args.notebook} as a notebook ({error}); is it the .ipynb file you "
              "saved?", file=sys.stderr)
        return 1
    print(report)
    return 0 if report.ready else 1


def add_parser(subparsers) -> None:
    """Register ``course check``."""
    parser = subparsers.add_parser(
        "check", help="check a notebook before handing it in: runs, visible tests, blank answers",
        description="Run a copy of NOTEBOOK from top to bottom in a fresh kernel (smoke profile by default), "
        "then say which chapter it is, whether your name is in it (where it asks), which answer cells are still "
        "blank, whether every cell ran and which visible tests pass. Exit status 0 when it is ready to hand in.")
    parser.add_argument("notebook", metavar="NOTEBOOK")
    parser.add_argument("--profile", choices=("smoke", "cpu", "full"), default="smoke",
                        help="COURSE_PROFILE for the run (default: smoke, the quick one)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_CELL_TIMEOUT, metavar="S",
                        help=f"seconds a cell may run (default {DEFAULT_CELL_TIMEOUT})")
    parser.set_defaults(func=run_check)
