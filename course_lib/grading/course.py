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


class NbgraderError(RuntimeError):
    """nbgrader failed; the message carries its log."""


def repository_root() -> Path:
    """The repository that holds ``solutions/`` and ``notebooks/`` (this package lives in it)."""
    return Path(__file__).resolve().parents[2]


def chapters(solutions_dir: Path) -> list[str]:
    """The chapters with an instructor notebook, ``solutions/<chapter>/<chapter>.ipynb``, sorted."""
    return sorted(p.name for p in solutions_dir.iterdir() if (p / f"{p.name}.ipynb").is_file())


def make_course(root: Path, solutions_dir: Path, chapter: str, extra_config: str = "") -> Path:
    """Lay out an nbgrader course in ``root`` with ``chapter`` as its only assignment; return root."""
    source = solutions_dir / chapter
    if not (source / f"{chapter}.ipynb").is_file():
        known = ", ".join(chapters(solutions_dir)) or "none"
        raise FileNotFoundError(f"no chapter {chapter!r}: expected {source / (chapter + '.ipynb')} "
                                f"(chapters with solutions: {known}).")
    shutil.copytree(source, root / "source" / chapter,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    config = f"""
        c = get_config()
        c.CourseDirectory.course_id = {COURSE_ID!r}
        c.CourseDirectory.root = {str(root)!r}
    """
    (root / "nbgrader_config.py").write_text(textwrap.dedent(config) + extra_config)
    return root


def nbgrader(root: Path, *args: str, timeout: float | None = None) -> str:
    """Run ``nbgrader ARGS`` in the course folder ``root``; raise :class:`NbgraderError` on failure."""
    done = run_tool("nbgrader", *args, cwd=root, timeout=timeout)
    if done.returncode != 0:
        raise NbgraderError(f"`nbgrader {' '.join(args)}` failed (exit {done.returncode}):\n"
                            f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout + done.stderr
