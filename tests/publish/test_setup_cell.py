"""The first cell of every student notebook installs course_lib where it is missing, and only there."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import nbformat
import pytest

from course_lib.course_root import find_course
from course_lib.grading.setup_cell import SOURCE_VARIABLE, is_setup_cell
from course_lib.publish import release_target

REPO = find_course(__file__)


def first_cell(chapter: str = "params") -> str:
    notebook = nbformat.read(REPO / "notebooks" / chapter / f"{chapter}.ipynb", as_version=4)
    assert is_setup_cell(notebook.cells[0])
    return notebook.cells[0].source


def test_the_cell_pins_the_release_and_honours_the_override():
    source = first_cell()
    assert f'os.environ.get("{SOURCE_VARIABLE}", "{release_target(REPO).install_source}")' in source


def test_where_course_lib_is_installed_the_cell_does_nothing(monkeypatch, capsys):
    def no_install(*args, **kwargs):
        raise AssertionError(f"the setup cell ran {args}")

    monkeypatch.setattr(subprocess, "run", no_install)
    namespace: dict = {}
    exec(first_cell(), namespace)
    assert capsys.readouterr().out == ""
    assert "source" not in namespace  # it did not even pick a source


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel of this checkout's course_lib (built from a copy: nothing is written into the repository)."""
    work = tmp_path_factory.mktemp("wheel")
    (work / "src").mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, work / "src" / name)
    shutil.copytree(REPO / "course_lib", work / "src" / "course_lib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(work / "dist"), str(work / "src")], check=True, timeout=300)
    (built,) = (work / "dist").glob("course_lib-*.whl")
    return built


def test_in_a_fresh_environment_without_course_lib_the_cell_installs_it(wheel, tmp_path):
    """A new virtual environment that sees this one's packages (torch, numpy, ...) through a .pth
    line but not course_lib; the cell installs the wheel, then course_lib imports from the new one."""
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # ensurepip's old setuptools would hide this environment's (torch asks for a newer one)
    subprocess.run([python, "-m", "pip", "uninstall", "--quiet", "--yes", "setuptools"], check=True, timeout=120)
    (site / "course-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    clean = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    clean.update({SOURCE_VARIABLE: str(wheel), "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"})

    def run(code: str) -> subprocess.CompletedProcess:
        return subprocess.run([python, "-c", code], capture_output=True, text=True, env=clean, cwd=tmp_path,
                              timeout=600)

    missing = run("import course_lib")
    assert missing.returncode == 1 and "No module named 'course_lib'" in missing.stderr
    installed = run(first_cell() + "\nimport course_lib, torch\nprint(course_lib.__file__)")
    assert installed.returncode == 0, installed.stderr
    assert installed.stdout.splitlines() == [f"installing course_lib from {wheel} ...",
                                             str(site / "course_lib" / "__init__.py")]
    again = run(first_cell())
    assert (again.returncode, again.stdout) == (0, "")
