"""Finding a class's submissions in a folder, and turning each into a notebook nbgrader can grade.

Two layouts are accepted:

* nbgrader's: ``DIR/<student>/<chapter>/*.ipynb`` (``DIR`` is a ``submitted/`` folder);
* an LMS download: ``DIR/<student>.ipynb`` (a flat folder of notebooks).

Each notebook is checked before grading, so that a broken file costs its author the points and
nobody else anything: an empty file, bytes that are not UTF-8, text that is not JSON, or JSON
that is not a notebook get a status and no grading run. An nbformat 3 notebook is converted to
version 4. Outputs are dropped (the autograder re-runs every cell anyway), so a notebook saved
with 100 MB of output costs nothing. A student folder with one notebook under another name is
graded as ``<chapter>.ipynb``; other files in it are ignored, so a submission cannot ship a
module that shadows ``torch`` or ``course_lib``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_lib.grading.release import normalize_notebook


@dataclass
class Submission:
    """One student's notebook: ``notebook`` is None when it cannot be graded, ``problem`` says why."""

    student: str
    source: Path | None
    notebook: nbformat.NotebookNode | None = None
    problem: str = ""


def find_submissions(folder: Path, chapter: str) -> dict[str, Path | None]:
    """``{student: notebook path}`` in either layout; None for a student folder without a notebook."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"submissions folder {folder} does not exist.")
    found: dict[str, Path | None] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix == ".ipynb":
            found[entry.stem] = entry
        elif entry.is_dir():
            chapter_dir = entry / chapter if (entry / chapter).is_dir() else entry
            notebooks = sorted(p for p in chapter_dir.glob("*.ipynb") if not p.name.startswith("."))
            preferred = [p for p in notebooks if p.name == f"{chapter}.ipynb"]
            found[entry.name] = (preferred or notebooks or [None])[0]
    return found


def load_submission(student: str, path: Path | None) -> Submission:
    """Read and check one notebook; never raises for a bad file."""
    if path is None:
        return Submission(student, None, problem="no notebook submitted")
    data = path.read_bytes()
    if not data.strip():
        return Submission(student, path, problem="empty file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return Submission(student, path, problem=f"not UTF-8 text ({error.reason} at byte {error.start})")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        return Submission(student, path, problem=f"not valid JSON (line {error.lineno}: {error.msg})")
    try:
        notebook = nbformat.reads(json.dumps(raw), as_version=4)  # converts nbformat 3
        nbformat.validate(notebook)
    except Exception as error:  # nbformat raises several types for "not a notebook"
        return Submission(student, path, problem=f"not a Jupyter notebook ({type(error).__name__})")
    return Submission(student, path, notebook=normalize_notebook(notebook))
