"""Building crafted submissions of a chapter: blank and correct notebooks, edits, expected points."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]


def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def cell_of(notebook, grade_id):
    return next(c for c in notebook.cells if _meta(c).get("grade_id") == grade_id)


def is_test(cell) -> bool:
    return bool(_meta(cell).get("grade")) and not _meta(cell).get("solution")


def edit(notebook, grade_id, source=None, before="", after=""):
    """Replace (or wrap) the source of the cell ``grade_id``; returns the notebook."""
    cell = cell_of(notebook, grade_id)
    cell.source = before + (cell.source if source is None else source) + after
    return notebook


class Crafting:
    """The notebooks of one chapter to craft submissions from, and the points its cells carry."""

    def __init__(self, chapter: str):
        self.solution = nbformat.read(REPO / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
        self.release = nbformat.read(REPO / "notebooks" / chapter / f"{chapter}.ipynb", as_version=4)
        graded = [_meta(c) for c in self.solution.cells if _meta(c).get("grade")]
        self.points = {m["grade_id"]: float(m["points"]) for m in graded}
        self.written = [m["grade_id"] for m in graded if m.get("solution")]
        self.tests = [g for g in self.points if g not in self.written]
        # a student's answer is the solution without nbgrader's markers
        self.answers = {_meta(c)["grade_id"]: "\n".join(line for line in c.source.splitlines()
                                                       if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
                        for c in self.solution.cells if _meta(c).get("solution")}

    def blank(self) -> nbformat.NotebookNode:
        return copy.deepcopy(self.release)

    def correct(self) -> nbformat.NotebookNode:
        notebook = self.blank()
        for cell in notebook.cells:
            if _meta(cell).get("solution"):
                cell.source = self.answers[_meta(cell)["grade_id"]]
        return notebook

    def expect(self, base: str, zero=()) -> dict[str, float | None]:
        """Points per cell: a correct base has every autograded point (written answers wait for a
        person: None), a blank one none; ``zero`` lists the test cells that must score 0."""
        points = {g: (p if base == "correct" else 0.0) for g, p in self.points.items()}
        for grade_id in self.written:
            points[grade_id] = None if base == "correct" else 0.0
        for grade_id in zero:
            points[grade_id] = 0.0
        return points

    def nothing(self) -> dict[str, float]:
        """The row of a file that could not be graded at all."""
        return {g: 0.0 for g in self.points}

    def replace_in(self, grade_id, old, new):
        """A correct notebook whose answer ``grade_id`` has ``old`` replaced by ``new`` (a mutant)."""
        return self.replace_each((grade_id, old, new))

    def replace_each(self, *edits):
        """A correct notebook with several ``(grade_id, old, new)`` replacements: mistakes in different
        exercises, so that each cell's points still say which one it caught (fewer files, one batch chunk)."""
        notebook = self.correct()
        for grade_id, old, new in edits:
            cell = cell_of(notebook, grade_id)
            assert old in cell.source, (grade_id, old)
            cell.source = cell.source.replace(old, new)
        return notebook


def write_batch(batch: dict, folder: Path) -> Path:
    """Write every crafted submission as ``<name>.ipynb`` in ``folder`` (a flat LMS-style download)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, (content, _, _) in batch.items():
        path = folder / f"{name}.ipynb"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            nbformat.write(content, path, version=content.nbformat)
    return folder


def tree_digest(folder: Path, files=None) -> str:
    digest = hashlib.sha256()
    for path in sorted(files if files is not None else folder.rglob("*")):
        path = folder / path
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def repository_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    return [name for name in listed if (REPO / name).is_file()]


def processes_with(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and entry.name != str(os.getpid()):
            found.append(f"{entry.name}: {cmdline[:200]}")
    return found


def assert_row(batch: dict, rows: dict, name: str) -> None:
    """The row of crafted submission ``name`` has exactly the points per cell and the status word expected."""
    _, expected, status_word = batch[name]
    row = rows[name]
    assert row["scores"] == expected, f"{name}: {row['status']}; scores {row['scores']}, expected {expected}"
    assert status_word in row["status"], f"{name}: status {row['status']!r}"


def grade_batch(chapter: str, batch: dict, folder: Path, *options: str) -> dict:
    """Write ``batch`` into ``folder`` and grade it with ``course grade``; returns the output folder, the
    submissions folder and the rows by file name."""
    from course_lib import cli

    submitted = write_batch(batch, folder / "submitted")
    output = folder / "graded"
    assert cli.main(["grade", chapter, str(submitted), "--output", str(output), *options]) == 0
    rows = {json.loads(line)["entry"]: json.loads(line) for line in (output / "rows.jsonl").read_text().splitlines()}
    return {"output": output, "submitted": submitted, "rows": rows}
