"""Each chapter's checks, written once: the visible test cells call them, and so does the grader.

A graded test cell of a chapter names its check and the student's object::

    check("params.lstm_params", lstm_params)

In the student's kernel this runs the check's visible cases and prints what agreed (or raises
:class:`~course_lib.grading.checks.CheckFailed` saying what was expected and what came). The grader
never runs test cells: it maps the cell's grade id to the same check, runs its visible cases and
the instructor's hidden ones (``grader/<chapter>.py``, not shipped to students) through the
sandboxed notebook, and compares in its own process. See :mod:`course_lib.grading.trusted`.
"""

from __future__ import annotations

import importlib

from course_lib.checks.base import Case, Check

__all__ = ["Case", "Check", "check", "find_check"]


def find_check(name: str) -> Check:
    """The check called ``name`` ("chapter.exercise"); a KeyError naming the chapter's checks if none."""
    chapter = name.split(".", 1)[0]
    try:
        module = importlib.import_module(f"course_lib.checks.{chapter}")
    except ModuleNotFoundError:
        raise KeyError(f"no checks for chapter {chapter!r} (course_lib/checks/{chapter}.py)") from None
    if name not in module.CHECKS:
        raise KeyError(f"no check {name!r}; {chapter} has: {', '.join(sorted(module.CHECKS))}")
    return module.CHECKS[name]


def check(name: str, obj) -> None:
    """Run the visible cases of check ``name`` on ``obj`` (your function or class) and say how it went."""
    print(find_check(name).run_visible(obj))
