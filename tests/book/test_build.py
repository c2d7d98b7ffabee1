"""The book builds without a warning, and every page in _toc.yml becomes an HTML page."""

import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import venv_tool

REPO = Path(__file__).resolve().parents[2]


def toc_files(toc):
    """Every `file:` entry of a jb-book table of contents, root first."""
    files = [toc["root"]]
    for entry in toc.get("chapters", []) + [c for part in toc.get("parts", []) for c in part["chapters"]]:
        files.append(entry["file"])
        files += [section["file"] for section in entry.get("sections", [])]
    return files


@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
    output = tmp_path_factory.mktemp("book")
    jupyter_book = venv_tool("jupyter-book")
    done = subprocess.run([jupyter_book, "build", str(REPO), "--path-output", str(output), "-W", "--keep-going"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"the book did not build cleanly:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return output / "_build" / "html"


def test_every_toc_page_is_built(built_book):
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    for page in toc_files(toc):
        html = built_book / f"{Path(page).with_suffix('')}.html"
        assert html.is_file(), f"{page} is listed in _toc.yml but {html} was not built"


def test_library_reference_renders_the_cell_equations(built_book):
    reference = (built_book / "book" / "reference.html").read_text()
    assert "course_lib.cells.LSTMCell" in reference
    assert r"c_t &amp;= f_t \odot c_{t-1} + i_t \odot g_t" in reference  # the LSTM's equations, as math
