"""Finding the command-line tools installed beside this Python, running them, and ending them."""

from __future__ import annotations

import os
import shutil
import signal
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


def end_process_group(process: subprocess.Popen) -> None:
    """Kill a child started with ``start_new_session=True`` and its whole process group, wait for it
    at most 10 s, and close the pipes the grader holds to it."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    for stream in (process.stdin, process.stdout):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass
