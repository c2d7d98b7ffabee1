"""Cells of a solution notebook executed in one namespace: how a benchmark runs the notebook's own code.

The benchmarks that time or vary a chapter's models take them from ``solutions/<chapter>``, not from
a copy that could drift from what students are given. Imported by the scripts beside it (run as
``python benchmarks/<script>.py``, which puts this folder on the path).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]


def grade_id(cell) -> str | None:
    """The cell's nbgrader id (None for an ungraded cell)."""
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def run_notebook_cells(chapter: str, wanted: Callable, namespace: dict | None = None,
                       source: Callable = lambda cell: cell.source) -> dict:
    """Execute, in notebook order, the code cells of ``solutions/<chapter>`` for which ``wanted(cell)``
    holds (``source(cell)`` of each: a part of it, say), their printing silenced; return the namespace."""
    notebook = nbformat.read(REPO / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
    namespace = {} if namespace is None else namespace
    for cell in notebook.cells:
        if cell.cell_type == "code" and wanted(cell):
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(source(cell), f"{chapter} notebook", "exec"), namespace)  # noqa: S102 (our own notebook)
    return namespace
