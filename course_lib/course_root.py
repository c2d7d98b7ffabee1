"""Which course folder an instructor command acts on: ``--course DIR``, else the one it is run in.

A course folder holds the book's ``_config.yml`` and ``_toc.yml``. As git finds its repository,
:func:`find_course` walks up from the current directory to the first folder that holds both; so
``course build`` run in a copy of the course builds that copy, never the folder the library was
installed from. The instructor's repository and a student release are both course folders; commands
that need the instructor's files (``solutions/``) say so when they are missing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

MARKERS = ("_config.yml", "_toc.yml")


class CourseNotFoundError(FileNotFoundError):
    """No course folder here or above (or the one named by ``--course`` is not one)."""


def is_course(folder: Path) -> bool:
    return all((folder / marker).is_file() for marker in MARKERS)


def find_course(start: str | Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the current directory) that is a course."""
    start = Path(start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if is_course(folder):
            return folder
    raise CourseNotFoundError(
        f"{start} is not inside a course folder (none of it or its parents holds {' and '.join(MARKERS)}): "
        "run the command inside the course's repository, or pass --course DIR.")


def course_folder(explicit: str | Path | None = None) -> Path:
    """``explicit`` if given (any folder: each command says what it lacks), else :func:`find_course`."""
    if explicit is None:
        return find_course()
    folder = Path(explicit).expanduser().resolve()
    if not folder.is_dir():
        raise CourseNotFoundError(f"--course {explicit}: there is no folder {folder}.")
    return folder


def add_course_option(parser: argparse.ArgumentParser) -> None:
    """``--course DIR`` for an instructor command; read it back with ``course_folder(args.course)``."""
    parser.add_argument("--course", metavar="DIR", default=None,
                        help="the course folder to act on (default: the one the current directory is in, "
                        "found upward as git finds its repository)")
