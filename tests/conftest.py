"""Shared test helpers."""

import os
import shutil
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # tests never open windows


def venv_tool(name: str) -> str:
    """The path of a command-line tool installed beside this Python (e.g. jupyter-book, nbgrader).

    Looks in the interpreter's own bin/ first, so the tests work whether or not the virtual
    environment was activated.
    """
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=search)
    assert found, f"{name} is not installed beside {sys.executable}: run `pip install -r requirements.txt`"
    return found

# Crafted submissions for the grader's tests are data, not notebooks to run.
collect_ignore_glob = ["grading/fixtures/*"]
