"""Make the student notebooks: ``notebooks/`` is exactly what nbgrader makes of ``solutions/``.

nbgrader's ``generate_assignment`` does the work (solutions replaced, hidden tests removed, cells
locked and checksummed); we only normalise what may differ between machines or runs, so that a
second release writes byte-identical files and ``course release --check`` can say when
``notebooks/`` is stale, and put first the cell that installs ``course_lib`` where it is missing
(:mod:`course_lib.grading.setup_cell`).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import nbformat

from course_lib.course_root import find_course
from course_lib.grading.course import chapters, make_course, nbgrader
from course_lib.grading.setup_cell import insert_setup_cell
from course_lib.publish import release_target

# Cell metadata that carries meaning for students or nbgrader; everything else is editor state.
KEPT_CELL_METADATA = ("nbgrader", "deletable", "editable", "tags")
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def normalize_notebook(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop outputs, execution counts and editor metadata; fix the kernel; in place and returned."""
    notebook.metadata = nbformat.from_dict({
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python"},
    })
    for cell in notebook.cells:
        cell.metadata = nbformat.from_dict({k: v for k, v in cell.metadata.items() if k in KEPT_CELL_METADATA})
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return notebook


def write_notebook(notebook: nbformat.NotebookNode, path: Path) -> None:
    """nbformat's canonical JSON (sorted keys, indent 1) and a final newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(notebook) + "\n")


def generate_release(chapter: str, solutions_dir: Path, output_dir: Path, install_source: str) -> list[Path]:
    """Run ``nbgrader generate_assignment`` on one chapter; write the normalised files to output_dir,
    each notebook starting with the cell that installs ``course_lib`` from ``install_source`` where missing
    (:mod:`course_lib.grading.setup_cell`) and naming its chapter in its metadata (``course.chapter``)."""
    with tempfile.TemporaryDirectory(prefix=f"release-{chapter}-") as tmp:
        root = make_course(Path(tmp), solutions_dir, chapter)
        nbgrader(root, "generate_assignment", chapter, "--force", "--no-db")
        released = root / "release" / chapter
        written = []
        for source in sorted(released.rglob("*")):
            if source.is_dir():
                continue
            target = output_dir / source.relative_to(released)
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.suffix == ".ipynb":
                notebook = normalize_notebook(nbformat.read(source, as_version=4))
                notebook.metadata["course"] = {"chapter": chapter}  # what `course check` reports
                write_notebook(insert_setup_cell(notebook, install_source), target)
            else:
                shutil.copyfile(source, target)
            written.append(target)
        return written


def _files_under(folder: Path) -> dict[Path, bytes]:
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".ipynb_checkpoints" not in p.parts}


def release(chapter_names: list[str] | None = None, repo: Path | None = None,
            check_only: bool = False) -> list[str]:
    """Regenerate ``notebooks/<chapter>/`` for the given chapters (all by default).

    Returns the chapters whose committed files differed from a fresh release. With
    ``check_only=True`` nothing is written: the result is the list of stale chapters.
    """
    repo = repo or find_course()
    solutions_dir, notebooks_dir = repo / "solutions", repo / "notebooks"
    install_source = release_target(repo).install_source
    differing = []
    for chapter in chapter_names or chapters(solutions_dir):
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / chapter
            generate_release(chapter, solutions_dir, fresh, install_source)
            if _files_under(fresh) == _files_under(notebooks_dir / chapter):
                continue
            differing.append(chapter)
            if not check_only:
                shutil.rmtree(notebooks_dir / chapter, ignore_errors=True)
                shutil.copytree(fresh, notebooks_dir / chapter)
    return differing
