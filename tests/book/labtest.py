"""Helpers for the live widget test: a JupyterLab of its own, and the notebooks it opens.

* :class:`JupyterLab` starts ``jupyter lab`` on 127.0.0.1 with a port the system picks, a random
  token and a temporary root folder, with its own config, runtime, settings and workspace folders
  (nothing of the user's setup leaks in), and no browser of its own.
* :data:`EXPLORERS`: the course's explorers, each with its chapter and the heading of its section.
* :func:`explorer_notebook` makes the notebook the test opens: the student notebook of a chapter
  with its answer cells filled from the solution (as a student who solved it would have it), cut
  down to the cells that an explorer cell needs, so that the kernel runs for seconds, not minutes.

Named ``labtest`` (not ``jupyterlab``): tests/book is on ``sys.path`` while the book's tests run,
and a module there must not hide an installed package.
"""

from __future__ import annotations

import builtins
import json
import os
import secrets
import subprocess
import sys
import symtable
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
from booktest import REPO
from IPython.core.inputtransformer2 import TransformerManager

#: The server's settings: no update checks, news or extension index (no network here), no search
#: for language servers, and only the server extensions the test needs (nbgrader's slow the start).
SERVER_CONFIG = {
    "LanguageServerManager": {"autodetect": False},
    "ServerApp": {"jpserver_extensions": {
        "notebook": False, "jupyter_server_terminals": False,
        **{f"nbgrader.server_extensions.{name}": False
           for name in ("formgrader", "validate_assignment", "assignment_list", "course_list")}}},
    "LabApp": {"expose_app_in_browser": True, "news_url": None, "extension_manager": "readonly",
               "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"},
}
#: nbgrader's front-end plugins ask for its server extensions, switched off above.
DISABLED_LAB_EXTENSIONS = {"@jupyter/nbgrader": True}
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


@dataclass(frozen=True)
class Explorer:
    """One explorer of the course: its chapter, the heading above its cell, what it constructs."""

    chapter: str
    heading: str
    constructor: str

    @property
    def path(self) -> str:
        return f"{self.chapter}.ipynb"


TEMPERATURE = Explorer("char_lm", "The temperature slider", "TemperatureExplorer(")
GATES = Explorer("gates", "The gate explorer", "GateExplorer(")
EXPLORERS = (TEMPERATURE, GATES)


class JupyterLab:
    """``jupyter lab`` serving ``root`` on 127.0.0.1; use as a context manager.

    ``url`` is the server's base URL (ending in ``/``) once :meth:`wait_until_serving` returned,
    and ``token`` its token. The kernels inherit this process's environment (COURSE_DATA_DIR,
    PYTHONPATH) but run the smoke profile (the widgets are under test, not the training) and draw
    inline as a student's do (no MPLBACKEND).
    """

    def __init__(self, root: Path, home: Path):
        self.root, self.token = root, secrets.token_hex(16)
        config_dir, runtime_dir = home / "config", home / "runtime"
        (config_dir / "labconfig").mkdir(parents=True, exist_ok=True)
        (config_dir / "jupyter_server_config.json").write_text(json.dumps(SERVER_CONFIG))
        (config_dir / "labconfig" / "page_config.json").write_text(
            json.dumps({"disabledExtensions": DISABLED_LAB_EXTENSIONS}))
        environment = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
        environment.update(COURSE_PROFILE="smoke", JUPYTER_CONFIG_DIR=str(config_dir),
                           JUPYTER_RUNTIME_DIR=str(runtime_dir), JUPYTER_DATA_DIR=str(home / "data"),
                           JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
                           JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), JUPYTER_PLATFORM_DIRS="1")
        self.log_path = home / "jupyterlab.log"
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
             "--ServerApp.port=0", "--ServerApp.port_retries=0", "--allow-root",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}"],
            env=environment, cwd=root, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._info_file = runtime_dir / f"jpserver-{self.process.pid}.json"
        self.url = ""

    def wait_until_serving(self, timeout: float = 120.0) -> str:
        """The base URL, once the server answers /api/status; fails with its log if it does not.

        The server is started by the constructor and not waited for there, so that the caller can
        start other things (a browser) meanwhile.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited at start (status {self.process.returncode}); "
                                   f"its log:\n{self.log()}")
            if self._info_file.is_file():
                try:
                    port = json.loads(self._info_file.read_text())["port"]
                    url = f"http://127.0.0.1:{port}/"
                    with urllib.request.urlopen(f"{url}api/status?token={self.token}", timeout=5) as answer:
                        if answer.status == 200:
                            self.url = url
                            return url
                except (ValueError, KeyError, OSError):  # half-written info file, server not listening yet
                    pass
            time.sleep(0.2)
        raise TimeoutError(f"JupyterLab did not answer /api/status within {timeout:.0f} s; its log:\n{self.log()}")

    def start_kernel(self, path: str) -> None:
        """Start the notebook ``path``'s kernel now (a session, as opening it would), so that it
        boots while the browser loads JupyterLab; the notebook then opens on that session."""
        request = urllib.request.Request(
            f"{self.url}api/sessions?token={self.token}", method="POST",
            data=json.dumps({"path": path, "name": path, "type": "notebook", "kernel": {"name": "python3"}}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            assert answer.status == 201, f"starting a kernel for {path}: HTTP {answer.status}"

    def log(self, characters: int = 4000) -> str:
        """The end of the server's log (its kernels' messages included)."""
        return self.log_path.read_text(errors="replace")[-characters:]

    def lab_url(self) -> str:
        """The address of the JupyterLab page, with the token and a fresh workspace."""
        return f"{self.url}lab?reset&token={self.token}"

    def close(self) -> None:
        """Stop the server (it shuts its kernels down) and close its log."""
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()

    def __enter__(self) -> JupyterLab:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- the notebooks ----------------------------------------------------------------------------

_transformer = TransformerManager()


def _global_names(source: str) -> tuple[set[str], set[str]]:
    """The module-level names a cell binds, and the global names it reads (builtins left out)."""
    table = symtable.symtable(_transformer.transform_cell(source), "<cell>", "exec")
    bound = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported() or s.is_namespace()}
    read: set[str] = set()
    scopes = [(table, True)]
    while scopes:
        scope, module_level = scopes.pop()
        read |= {s.get_name() for s in scope.get_symbols()
                 if s.is_referenced() and (module_level or s.is_global())}
        scopes += [(child, False) for child in scope.get_children()]
    return bound, read - set(dir(builtins))


def cells_needed_by(cells: list, target: int) -> list[int]:
    """The indices of the code cells that cell ``target`` needs, itself included, in order.

    Going back from ``target``, a cell is kept when it binds a name still needed (the last cell to
    bind it before the target wins); the names it reads become needed in turn. A name a cell both
    binds and reads (``x = 3 * x``, or a loop variable) is taken from an earlier cell when one binds
    it. Cells that only test, print or plot are left out.
    """
    bound, read = _global_names(cells[target].source)
    needed, maybe_needed = read - bound, read & bound
    kept = [target]
    for index in range(target - 1, -1, -1):
        if cells[index].cell_type != "code":
            continue
        bound, read = _global_names(cells[index].source)
        if bound & (needed | maybe_needed):
            kept.append(index)
            needed = (needed - bound) | (read - bound)
            maybe_needed = (maybe_needed - bound) | (read & bound)
    if needed:
        raise AssertionError(f"no cell before cell {target} defines {sorted(needed)}")
    return sorted(kept)


def solved_student_notebook(chapter: str) -> nbformat.NotebookNode:
    """The student notebook of ``chapter`` with every answer cell holding the solution's answer."""
    student = nbformat.read(REPO / "notebooks" / chapter / f"{chapter}.ipynb", as_version=4)
    solution = nbformat.read(REPO / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
    answers = {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in solution.cells
               if cell.metadata.get("nbgrader", {}).get("solution")}
    for cell in student.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution"):
            assert grade_id in answers, f"solutions/{chapter}/{chapter}.ipynb has no answer cell {grade_id!r}"
            cell.source = "\n".join(line for line in answers[grade_id].splitlines()
                                    if line.strip() not in SOLUTION_MARKERS)
    return student


def explorer_cell(cells: list, heading: str) -> int:
    """The index of the first code cell after the markdown heading ``heading``."""
    titles = [index for index, cell in enumerate(cells)
              if cell.cell_type == "markdown" and cell.source.lstrip("#").strip().startswith(heading)]
    assert titles, f"no markdown cell starts with the heading {heading!r}"
    return next(index for index in range(titles[0], len(cells)) if cells[index].cell_type == "code")


def explorer_notebook(chapter: str, heading: str) -> nbformat.NotebookNode:
    """The solved student notebook cut to the title, the cells the explorer needs, and the explorer
    cell under its heading (the explorer cell last, so that its view ends the notebook)."""
    notebook = solved_student_notebook(chapter)
    target = explorer_cell(notebook.cells, heading)
    kept = cells_needed_by(notebook.cells, target)
    title = notebook.cells[0]
    section_heading = max(index for index in range(target) if notebook.cells[index].cell_type == "markdown")
    notebook.cells = [title] + [notebook.cells[index] for index in kept[:-1]] \
        + [notebook.cells[section_heading], notebook.cells[target]]
    return notebook
