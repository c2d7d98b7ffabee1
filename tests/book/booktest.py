"""Helpers for the book's tests: a copy of the book with a test chapter.

The tests never build inside the repository (other work may be going on there): they copy the
book's sources -- _config.yml, _toc.yml, book/, notebooks/, solutions/ -- into a temporary folder
and add a small chapter, ``ztest``, in the layout every chapter uses (a lecture page with math, a
figure and a code cell; a student notebook; a solution notebook). It is appended to the "Chapters"
part of the toc exactly as the lead adds a real chapter, so the assignment checks always have a
page to look at even before the first real chapter is published.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
import yaml

from course_lib import book

REPO = Path(__file__).resolve().parents[2]
CHAPTER = "ztest"
#: The code cell of the test lecture appends a line to this file each time it really runs.
COUNTER_VARIABLE = "COURSE_BOOK_TEST_COUNTER"
SOURCES = ["_config.yml", "_toc.yml", "book", "notebooks", "solutions", "_static"]

LECTURE = f"""---
jupytext:
  text_representation:
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A test chapter

This page exists only in the tests' copy of the book. For $h_t = \\tanh(W_{{hh}} h_{{t-1}} + W_{{xh}} x_t)$
the Jacobian of one step is

$$
\\frac{{\\partial h_t}}{{\\partial h_{{t-1}}}} = \\operatorname{{diag}}\\left(1 - h_t^2\\right) W_{{hh}} .
$$ (ztest-jacobian)

Equation {{eq}}`ztest-jacobian` is what the assignment {{doc}}`../notebooks/{CHAPTER}/{CHAPTER}` checks.

```{{figure}} images/{CHAPTER}.png
:alt: a rising curve

A figure.
```

```{{code-cell}} ipython3
import os

with open(os.environ["{COUNTER_VARIABLE}"], "a") as counter:
    counter.write("ran\\n")
print("profile:", os.environ["COURSE_PROFILE"])
```

```{{code-cell}} ipython3
from course_lib.viz import TemperatureExplorer

TemperatureExplorer(lambda temperature: f"a sample at T = {{temperature:g}}", temperatures=(0.5, 2.0), value=0.5)
```
"""


def _notebook(cells: list) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def _graded(source: str, grade_id: str, **flags) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade_id": grade_id, "schema_version": 3, "locked": False,
                                 "grade": False, "solution": False, "task": False, **flags}
    return cell


def write_test_chapter(root: Path) -> None:
    """Add the ``ztest`` chapter's three files and its figure under ``root``."""
    import matplotlib.pyplot as plt

    (root / "book" / "images").mkdir(parents=True, exist_ok=True)
    (root / "book" / f"{CHAPTER}.md").write_text(LECTURE, encoding="utf8")
    figure, axes = plt.subplots(figsize=(3, 2))
    axes.plot([0, 1, 2, 3], [0, 1, 4, 9])
    figure.savefig(root / "book" / "images" / f"{CHAPTER}.png", dpi=60)
    plt.close(figure)

    heading = nbformat.v4.new_markdown_cell(f"# The test chapter's exercise\n\nImplement $f(x) = 2x$.")
    student = _notebook([
        heading,
        # What nbgrader leaves in a student notebook: running it raises, so the book must not run it.
        _graded("def double(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()", "double", solution=True),
        _graded("assert double(2) == 4, f'double(2) should be 4, got {double(2)}'", "test_double",
                grade=True, locked=True, points=1),
    ])
    solution = _notebook([
        heading,
        _graded("import os\n\ndef double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n\n"
                "print('profile:', os.environ['COURSE_PROFILE'])", "double", solution=True),
        _graded("assert double(2) == 4, f'double(2) should be 4, got {double(2)}'\nprint('solution ran')",
                "test_double", grade=True, locked=True, points=1),
    ])
    for folder, notebook in (("notebooks", student), ("solutions", solution)):
        (root / folder / CHAPTER).mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, root / folder / CHAPTER / f"{CHAPTER}.ipynb")


def chapters_part(toc: dict) -> list:
    """The entries of the toc's "Chapters" part, where finished chapters are listed."""
    for part in toc.get("parts", []):
        if part.get("caption") == "Chapters":
            return part["chapters"]
    raise AssertionError('_toc.yml has no part with caption "Chapters": chapters are added there')


def copy_book(destination: Path) -> Path:
    """Copy the repository's book sources to ``destination`` and add the test chapter to the toc."""
    destination.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("_build", ".ipynb_checkpoints", "__pycache__", ".jupyter_cache")
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, destination / name)
    write_test_chapter(destination)
    toc = yaml.safe_load((destination / "_toc.yml").read_text())
    chapters_part(toc).append({"file": f"book/{CHAPTER}", "sections": [{"file": f"notebooks/{CHAPTER}/{CHAPTER}"}]})
    (destination / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    return destination


def build_env(counter: Path) -> dict[str, str]:
    return {**os.environ, COUNTER_VARIABLE: str(counter)}


@dataclass
class BuiltBook:
    root: Path        # the temporary copy of the book
    html: Path        # its student edition
    toc: dict         # the toc it was built from (the repository's plus the test chapter)
    counter: Path     # one line per real run of the test lecture's code cell
    seconds: float

    def pages(self) -> list[str]:
        """Every page of the toc, in reading order."""
        return [book.doc_name(name) for name in book.toc_files(self.toc)]


def build_book(root: Path, edition: str, timeout: int = 900) -> BuiltBook:
    """Build a temporary copy of the book (smoke profile, local MathJax); fail with the log if it breaks."""
    counter = root.parent / f"{root.name}-counter.txt"
    result = book.build(root, edition, profile="smoke", mathjax="local", capture=True, timeout=timeout,
                        env=build_env(counter))
    assert result.ok, f"the {edition} edition did not build cleanly with -W:\n{result.output[-6000:]}"
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    return BuiltBook(root, result.html, book.instructor_toc(toc) if edition == "instructor" else toc, counter,
                     result.seconds)


def html_of(built: BuiltBook, page: str) -> str:
    """The HTML of one page of a built book."""
    return (built.html / f"{page}.html").read_text(encoding="utf8")
