"""Finding the command-line tools installed beside this Python, and running them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def venv_command(name: str) -> str:
    """The path of ``name`` (e.g. ``nbgrader``, ``jupyter-book``) installed beside this Python.

    The interpreter's own ``bin/`` is searched first, so the tools of the course's virtual
    environment are found even when it was not activated.
    """
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=search)
    if not found:
        raise FileNotFoundError(
            f"`{name}` is not installed beside {sys.executable}. "
            "Install the course's tools with `pip install -r requirements.txt` in this environment."
        )
    return found


def run_tool(name: str, *args: str, cwd: Path, timeout: float | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a venv tool in ``cwd``; its bin/ goes first on PATH so that it finds its own kernels."""
    command = venv_command(name)
    environment = dict(os.environ if env is None else env)
    environment["PATH"] = os.pathsep.join([str(Path(command).parent), environment.get("PATH", "")])
    return subprocess.run([command, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=environment)
