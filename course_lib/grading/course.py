"""A throw-away nbgrader course folder, laid out from the repository's solutions.

nbgrader works in a course folder (``source/``, ``release/``, ``submitted/``, a gradebook). We never
run it in the repository itself: every release or grading run gets a fresh folder, so nothing it
writes (gradebook, logs, permissions) can leak into the repository or between runs.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from course_lib.grading.tools import run_tool

COURSE_ID = "rnn-course"
# The file (named by this environment variable) where the grader's Execute step reports limits hit.
STATUS_VARIABLE = "COURSE_GRADER_STATUS"


class NbgraderError(RuntimeError):
    """nbgrader failed; the message carries its log."""


# nbgrader logs a broken nbgrader_config.py and carries on with its defaults; we never do.
CONFIG_FAILURE = "Exception while loading config file"


def check_config_loaded(log: str) -> None:
    """Raise when nbgrader's log says it could not load the course's configuration."""
    if CONFIG_FAILURE in log:
        raise NbgraderError("nbgrader could not load the course's nbgrader_config.py:\n" + log[-3000:])


def chapters(solutions_dir: Path) -> list[str]:
    """The chapters with an instructor notebook, ``solutions/<chapter>/<chapter>.ipynb``, sorted."""
    return sorted(p.name for p in solutions_dir.iterdir() if (p / f"{p.name}.ipynb").is_file())


def solution_notebook(solutions_dir: Path, chapter: str) -> Path:
    """``solutions/<chapter>/<chapter>.ipynb``; a FileNotFoundError naming the known chapters if absent."""
    notebook = Path(solutions_dir) / chapter / f"{chapter}.ipynb"
    if not notebook.is_file():
        known = ", ".join(chapters(Path(solutions_dir))) if Path(solutions_dir).is_dir() else "none"
        raise FileNotFoundError(f"no chapter {chapter!r}: expected {notebook} (chapters with solutions: "
                                f"{known or 'none'}).")
    return notebook


def make_course(root: Path, solutions_dir: Path, chapter: str, extra_config: str = "") -> Path:
    """Lay out an nbgrader course in ``root`` with ``chapter`` as its only assignment; return root."""
    source = solution_notebook(solutions_dir, chapter).parent
    shutil.copytree(source, root / "source" / chapter,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    # No CourseDirectory.root: nbgrader runs with the course folder as its working directory, so a
    # copy of this folder (one per graded submission) is a course of its own.
    config = f"""
        c = get_config()
        c.CourseDirectory.course_id = {COURSE_ID!r}
    """
    (root / "nbgrader_config.py").write_text(textwrap.dedent(config) + extra_config)
    return root


def nbgrader(root: Path, *args: str, timeout: float | None = None) -> str:
    """Run ``nbgrader ARGS`` in the course folder ``root``; raise :class:`NbgraderError` on failure."""
    done = run_tool("nbgrader", *args, cwd=root, timeout=timeout)
    check_config_loaded(done.stdout + done.stderr)
    if done.returncode != 0:
        raise NbgraderError(f"`nbgrader {' '.join(args)}` failed (exit {done.returncode}):\n"
                            f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout + done.stderr
