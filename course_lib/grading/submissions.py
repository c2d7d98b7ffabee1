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

import hashlib
import json
import re
import unicodedata
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
    digest: str = ""  # sha256 of the file: a re-run skips what it graded already


MAX_NOTEBOOK_BYTES = 256_000_000  # a notebook file larger than this is not read at all (outputs are dropped)
MAX_ID_LENGTH = 64


def find_submissions(folder: Path, chapter: str) -> dict[str, Path | None]:
    """``{entry name: notebook path}`` for EVERY entry of ``folder`` (dot files too), in either layout.

    A student folder without a notebook, and a file that is not a notebook, map to None: every entry
    gets a row in the report.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"submissions folder {folder} does not exist.")
    found: dict[str, Path | None] = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink():
            found[entry.name] = None
        elif entry.is_file():
            found[entry.name[: -len(".ipynb")] if entry.name.endswith(".ipynb") else entry.name] = \
                entry if entry.suffix == ".ipynb" else None
        elif entry.is_dir():
            chapter_dir = entry / chapter if (entry / chapter).is_dir() else entry
            notebooks = sorted(p for p in chapter_dir.glob("*.ipynb") if p.is_file() and not p.is_symlink())
            preferred = [p for p in notebooks if p.name == f"{chapter}.ipynb"]
            visible = [p for p in notebooks if not p.name.startswith(".")]
            found[entry.name] = (preferred or visible or notebooks or [None])[0]
    return found


def clean_id(name: str) -> str:
    """A student id nbgrader and file systems accept: ASCII letters, digits, '_', '.', '-'; short."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", folded).lstrip(".-") or "student"
    if len(cleaned) > MAX_ID_LENGTH:
        digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        cleaned = f"{cleaned[:MAX_ID_LENGTH - 9]}-{digest}"
    return cleaned


def unique_ids(names: list[str], wanted: dict[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """``{entry name: (student id, note)}``; ids that collide after cleaning get -2, -3, ... and a note.
    ``wanted`` gives the id to derive from for some names (an LMS's student id), else the name."""
    taken: dict[str, str] = {}
    result = {}
    wanted = wanted or {}
    for name in sorted(names):
        student = base = clean_id(wanted.get(name, name))
        note = ""
        counter = 1
        while student.lower() in taken:
            counter += 1
            student = f"{base}-{counter}"
        if counter > 1:
            note = f"id {base!r} of {taken[base.lower()]!r} taken: {name!r} graded as {student!r}"
        taken[student.lower()] = name
        result[name] = (student, note)
    return result


def read_limited(path: Path) -> bytes | str:
    """The bytes of a submission file, or why they cannot be had (too large, unreadable)."""
    try:
        if path.stat().st_size > MAX_NOTEBOOK_BYTES:
            return f"file larger than {MAX_NOTEBOOK_BYTES // 1_000_000} MB"
        return path.read_bytes()
    except OSError as error:
        return f"cannot be read ({error.strerror})"


def load_submission(student: str, path: Path | None, data: bytes | None = None) -> Submission:
    """Read and check one notebook (``data``: its bytes, read already, e.g. sent to a cluster's worker);
    never raises for a bad file."""
    if path is None:
        return Submission(student, None, problem="no notebook submitted")
    if data is None:
        data = read_limited(path)
        if isinstance(data, str):
            return Submission(student, path, problem=data)
    digest = hashlib.sha256(data).hexdigest()
    if not data.strip():
        return Submission(student, path, problem="empty file", digest=digest)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return Submission(student, path, problem=f"not UTF-8 text ({error.reason} at byte {error.start})",
                          digest=digest)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        return Submission(student, path, problem=f"not valid JSON (line {error.lineno}: {error.msg})", digest=digest)
    except RecursionError:
        return Submission(student, path, problem="not a Jupyter notebook (JSON nested too deeply)", digest=digest)
    try:
        notebook = nbformat.reads(json.dumps(raw), as_version=4)  # converts nbformat 3
        nbformat.validate(notebook)
        notebook = normalize_notebook(notebook)
    except Exception as error:  # nbformat raises several types for "not a notebook" (RecursionError too)
        return Submission(student, path, problem=f"not a Jupyter notebook ({type(error).__name__})", digest=digest)
    return Submission(student, path, notebook=notebook, digest=digest)
