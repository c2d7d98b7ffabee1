"""The sandbox a submission's code runs in, and the grader's bounded conversation with it.

Each submission runs in its own `bubblewrap <https://github.com/containers/bubblewrap>`_
sandbox (Debian's ``bubblewrap``, the sandbox Flatpak uses; maintained, small, no daemon, no
root needed where unprivileged user namespaces are on):

* its own mount namespace holding only the system (``/usr``), the Python installation and the
  virtual environment, and the course library students get (``course_lib``), all read-only, and
  one private scratch folder ``/scratch`` that is a size-capped tmpfs (a real quota, not only a
  per-file limit). The gradebook, ``source/``, the solutions, the instructor's checks, other
  submissions, the repository and the output folder are not mounted, so they do not exist there;
* ``--unshare-all``: no network, its own PID, IPC, UTS and user namespaces; ``--new-session``
  (no terminal injection), ``--die-with-parent``; an unprivileged user. When the grader runs as
  root, bubblewrap itself runs as a host user id of its own, unused by anyone else
  (:func:`_as_nobody`): the per-user process limit then counts that sandbox's processes only, so a
  fork bomb in one submission cannot starve the others graded beside it. Started by an ordinary
  user, the sandbox is ``nobody`` in a user namespace of its own (and the process limit counts
  every process of that user: run the grader as root, or in a cgroup, where that matters);
* hard resource limits set before the first cell (memory, CPU seconds, processes, file size);
* a wall-clock limit kept by the grader: every read has a deadline; at the end (or on time-out)
  the sandbox's init is killed, which ends every process in its PID namespace.

The grader talks to :mod:`course_lib.grading.oracle` over the sandbox's stdin/stdout, pipes the
grader owns; every line that comes back is decoded by :func:`course_lib.grading.wire.loads`
with size caps. ``isolated=False`` runs the same oracle as a plain child process (``course grade
--no-sandbox``): then the submission sees the disk as the grading user does.
"""

from __future__ import annotations

import os
import secrets
import select
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import course_lib
from course_lib.grading import wire
from course_lib.grading.tools import end_process_group

NOBODY = 65534
#: Host user ids for sandboxes when the grader runs as root: one drawn at random per sandbox from a
#: range nobody is given (above systemd-nspawn's container ranges, which end at 0x6FFFFFFF; below
#: 2**31, which bubblewrap cannot map).
SANDBOX_UIDS = range(1_900_000_000, 1_900_000_000 + 2**24)
SCRATCH = "/scratch"
LIBRARY = "/course"  # where the course library is mounted: /course/course_lib


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot build a sandbox here; the message says what to do."""


class SandboxBroke(RuntimeError):
    """The sandbox died, hung past its deadline or sent something outside the format."""


@dataclass(frozen=True)
class SandboxLimits:
    """What one sandboxed notebook may use (0 = no limit)."""

    cell_timeout: float = 300
    notebook_timeout: float = 1800
    memory_mb: int = 4096
    scratch_mb: int = 64
    file_mb: int = 64
    processes: int = 256  # per host user: each sandbox has its own when the grader is root
    max_output: int = 2_000_000


def bubblewrap() -> str | None:
    return shutil.which("bwrap")


def _python_roots() -> list[Path]:
    """The folders the interpreter needs: the installation it was built from and the venv."""
    roots = []
    for prefix in (sys.base_prefix, sys.prefix):
        path = Path(prefix).resolve()
        if path != Path("/usr") and not any(path == r or r in path.parents for r in roots):
            roots.append(path)
    return roots


def _bwrap_command(scratch_mb: int, binds: list[tuple[str, str]]) -> list[str]:
    """bubblewrap's arguments for a sandbox with the read-only ``binds`` (source, destination)."""
    command = [bubblewrap(), "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
               "--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev",
               "--size", str(scratch_mb * 2**20), "--tmpfs", SCRATCH, "--chdir", SCRATCH]
    for link in ("bin", "lib", "lib64", "sbin"):
        target = Path("/" + link)
        if target.is_symlink():
            command += ["--symlink", os.readlink(target), f"/{link}"]
        elif target.is_dir():
            command += ["--ro-bind", str(target), f"/{link}"]
    if os.geteuid() != 0:  # started by an ordinary user: nobody inside its own user namespace
        command += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY)]
    for source, destination in binds:
        command += ["--ro-bind", source, destination]
    # The sandbox's own root is a tmpfs without a size: read-only, so /scratch is the only place to write.
    return command + ["--remount-ro", "/"]


def _as_nobody(folders: list[Path]) -> tuple[list[str], list[tuple[str, str]]]:
    """Run bubblewrap as a fresh, unprivileged host user (see :data:`SANDBOX_UIDS`), with
    ``folders`` reachable although that user could not walk to them (a pyenv under /root): a
    private mount namespace of the grader's child stages them on a small tmpfs, then drops to the
    user. The host's mounts are not touched.

    Returns the command prefix and the (staged source, real path) pairs for bubblewrap.
    """
    stage = "/mnt"
    script = [f"mount -t tmpfs -o mode=755,size=1m course-sandbox-stage {stage}"]
    binds = []
    for k, folder in enumerate(folders):
        script += [f"mkdir {stage}/{k}", f"mount --bind -o ro {shlex.quote(str(folder))} {stage}/{k}"]
        binds.append((f"{stage}/{k}", str(folder)))
    uid = secrets.choice(SANDBOX_UIDS)  # its own RLIMIT_NPROC count: nobody else runs as it
    script.append('exec setpriv --reuid=%d --regid=%d --clear-groups --inh-caps=-all "$@"' % (uid, uid))
    prefix = [shutil.which("unshare"), "--mount", "--propagation", "private", "/bin/sh", "-c", " && ".join(script[:-1])
              + " && " + script[-1], "course-sandbox"]
    return prefix, binds


def _environment(home: str, library_parent: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "PYTHONPATH": library_parent,
            "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": os.path.join(home, ".matplotlib"), "COURSE_PROFILE": "smoke",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LANG": "C.UTF-8"}


class Sandbox:
    """One notebook's sandboxed Python process; ``with Sandbox(...) as box:`` ends it for sure."""

    def __init__(self, limits: SandboxLimits, isolated: bool = True):
        self.limits, self.isolated = limits, isolated
        self._buffer = b""
        self._scratch = None
        python = str(Path(sys.prefix) / "bin" / "python")
        library = Path(course_lib.__file__).resolve().parent
        if isolated:
            if not bubblewrap():
                raise SandboxUnavailable("bubblewrap (`bwrap`) is not installed")
            folders = [*_python_roots(), library]
            destinations = [str(p) for p in folders[:-1]] + [f"{LIBRARY}/course_lib"]
            prefix, staged = [], [(str(p), str(p)) for p in folders]
            if os.geteuid() == 0 and all(shutil.which(tool) for tool in ("unshare", "setpriv", "mount")):
                prefix, staged = _as_nobody(folders)
            binds = [(source, destination) for (source, _), destination in zip(staged, destinations)]
            command = prefix + _bwrap_command(limits.scratch_mb, binds)
            for name, value in _environment(SCRATCH, LIBRARY).items():
                command += ["--setenv", name, value]
            command += ["--", python, "-m", "course_lib.grading.oracle"]
            # cwd "/": nothing of the grader's (its working directory, the repository) in the environment
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=subprocess.DEVNULL, start_new_session=True, env={}, cwd="/")
        else:
            import tempfile

            self._scratch = tempfile.TemporaryDirectory(prefix="course-unsandboxed-")
            self.process = subprocess.Popen([python, "-m", "course_lib.grading.oracle"], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                            start_new_session=True, cwd=self._scratch.name,
                                            env=_environment(self._scratch.name, str(library.parent)))
        self._out = self.process.stdout.fileno()
        os.set_blocking(self._out, False)

    # -- lifetime ---------------------------------------------------------------------------------
    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Kill the sandbox and everything in it; never waits unboundedly."""
        # the whole process group: bubblewrap's monitor, the namespace's init, the oracle
        end_process_group(self.process)
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    # -- messages ---------------------------------------------------------------------------------
    def send(self, message: dict) -> None:
        try:
            self.process.stdin.write(wire.dumps(wire.encode(message)))
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise SandboxBroke("the sandbox stopped reading (it died or closed its input)") from None

    def receive(self, deadline: float):
        """The next message, decoded; :class:`SandboxBroke` past ``deadline`` (time.monotonic())."""
        while b"\n" not in self._buffer:
            if len(self._buffer) > wire.MAX_LINE_BYTES:
                raise SandboxBroke(f"the sandbox sent a line longer than {wire.MAX_LINE_BYTES} bytes")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SandboxBroke("time limit")
            ready, _, _ = select.select([self._out], [], [], min(remaining, 1.0))
            if not ready:
                continue
            try:
                chunk = os.read(self._out, 1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                raise SandboxBroke("the sandbox ended (a crash, os._exit, or a limit)")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            message = wire.loads(line)
        except wire.WireError as error:
            raise SandboxBroke(f"the sandbox sent a malformed message ({error})") from None
        if not isinstance(message, dict):
            raise SandboxBroke("the sandbox sent a message that is not an object")
        return message


def probe(isolated: bool = True) -> str:
    """'' when a sandbox can be built and runs Python here, else what went wrong."""
    try:
        with Sandbox(SandboxLimits(memory_mb=0), isolated=isolated) as box:
            box.send({"cells": [{"index": 0, "source": "import torch"}], "cell_timeout": 120,
                      "limits": {}})
            message = box.receive(time.monotonic() + 120)
            if message.get("error"):
                return f"Python in the sandbox failed: {message['error']}"
            return ""
    except (SandboxUnavailable, SandboxBroke, OSError) as error:
        return str(error)
