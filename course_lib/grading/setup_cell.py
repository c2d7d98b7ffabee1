"""The first cell of every student notebook: install the course's library where it is missing.

On Colab, or in any fresh kernel without ``course_lib``, the cell installs the pinned student release
(``pip install git+<release repository>.git@<tag>``, from ``[tool.course.release]`` of the course's
``pyproject.toml``); where ``course_lib`` is importable -- a student's virtual environment, the
grading sandbox (no network), nbval -- it imports nothing and does nothing. The environment variable
``COURSE_LIB_SOURCE`` replaces the install source (a wheel, a folder, a mirror): the tests install
from a local wheel that way.

``course release`` inserts the cell after nbgrader has made the student notebook, so the instructor
notebooks in ``solutions/`` never carry it.
"""

from __future__ import annotations

import nbformat

SOURCE_VARIABLE = "COURSE_LIB_SOURCE"
#: The cell's tag: how a later release (and ``course check``) recognises it.
TAG = "course-setup"


def setup_cell_source(install_source: str) -> str:
    """The code of the cell, installing from ``install_source`` unless ``COURSE_LIB_SOURCE`` says otherwise."""
    return (
        "# Setup: installs the course's library, course_lib, where this Python lacks it (e.g. on Colab).\n"
        "# Where course_lib is installed already, this cell does nothing.\n"
        "import importlib.util\n"
        "\n"
        "if importlib.util.find_spec(\"course_lib\") is None:\n"
        "    import os, subprocess, sys\n"
        "\n"
        f"    source = os.environ.get(\"{SOURCE_VARIABLE}\", \"{install_source}\")\n"
        "    print(f\"installing course_lib from {source} ...\")\n"
        "    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"--quiet\", source], check=True)\n"
        "    importlib.invalidate_caches()\n"
    )


def is_setup_cell(cell) -> bool:
    return TAG in cell.get("metadata", {}).get("tags", [])


def insert_setup_cell(notebook: nbformat.NotebookNode, install_source: str) -> nbformat.NotebookNode:
    """Make the notebook's first code cell the setup cell (replacing an older one); in place and returned."""
    cell = nbformat.v4.new_code_cell(setup_cell_source(install_source))
    cell.metadata = nbformat.from_dict({"deletable": False, "editable": False, "tags": [TAG]})
    cell.id = TAG  # a fixed id: a second release writes the same bytes
    notebook.cells = [cell] + [c for c in notebook.cells if not is_setup_cell(c)]
    return notebook
