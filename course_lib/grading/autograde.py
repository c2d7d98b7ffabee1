"""Autograde submissions of one chapter with stock ``nbgrader autograde`` and read back the scores.

A run lays out a fresh course folder (see :mod:`course_lib.grading.course`), releases the chapter
into its gradebook, copies each submission to ``submitted/<student>/<chapter>/<chapter>.ipynb``
and lets nbgrader execute and score it. Test cells are restored from the instructor's source by
nbgrader itself, hidden tests included, so a student cannot change what is checked.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.course_root import find_course
from course_lib.grading.course import make_course, nbgrader


@dataclass
class CellScore:
    """One graded cell of one submission."""

    grade_id: str
    score: float
    max_score: float
    needs_manual_grade: bool


@dataclass
class SubmissionScore:
    """The scores of one student's notebook, cell by cell."""

    student: str
    cells: dict[str, CellScore] = field(default_factory=dict)

    @property
    def auto_score(self) -> float:
        """Points from autograded cells (manually graded answers count once a person grades them)."""
        return sum(c.score for c in self.cells.values() if not c.needs_manual_grade)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.cells.values())


def read_scores(root: Path, chapter: str, student: str) -> SubmissionScore:
    """Every graded cell of ``student``'s ``chapter`` notebook, from the course's gradebook."""
    from nbgrader.api import Gradebook  # imported late: only graders need nbgrader's database

    result = SubmissionScore(student)
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        notebook = gradebook.find_submission_notebook(chapter, chapter, student)
        for grade in notebook.grades:
            result.cells[grade.name] = CellScore(grade.name, float(grade.score or 0.0),
                                                 float(grade.max_score), bool(grade.needs_manual_grade))
    return result


def autograde(chapter: str, submissions: dict[str, Path], solutions_dir: Path | None = None,
              cell_timeout: int = 600) -> dict[str, SubmissionScore]:
    """Grade ``{student: notebook path}`` for ``chapter``; return each student's scores.

    ``cell_timeout`` is the seconds a single cell may run before nbgrader stops it.
    """
    solutions_dir = solutions_dir or find_course() / "solutions"
    config = f"c.ExecutePreprocessor.timeout = {int(cell_timeout)}\n"
    with tempfile.TemporaryDirectory(prefix=f"grade-{chapter}-") as tmp:
        root = make_course(Path(tmp), solutions_dir, chapter, extra_config=config)
        nbgrader(root, "generate_assignment", chapter, "--force")
        for student, notebook in submissions.items():
            target = root / "submitted" / student / chapter / f"{chapter}.ipynb"
            target.parent.mkdir(parents=True)
            shutil.copyfile(notebook, target)
        nbgrader(root, "autograde", chapter, "--force")
        return {student: read_scores(root, chapter, student) for student in submissions}
