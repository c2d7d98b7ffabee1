"""The kernel that runs a student's notebook during grading, inside operating-system limits.

The grader's kernelspec starts ``python -m course_lib.grading.sandbox [options] -f CONNECTION_FILE``.
Before the IPython kernel starts, this module

* caps the kernel's address space (``RLIMIT_AS``): a memory bomb raises ``MemoryError`` in the
  student's cell instead of taking the grading machine down;
* caps the size of any file the kernel writes (``RLIMIT_FSIZE``);
* where the OS allows it (Linux, root or unprivileged user namespaces), moves the kernel into a
  network namespace of its own, which has no interfaces but a down loopback: no network at all.
  The kernel then talks to the grader over Unix sockets (the grader sets the ``ipc`` transport).
  Whether this works on a machine is probed once per grading run (:func:`isolate_network` in a
  child process) and stated in the summary;
* snapshots the functions graded tests rely on (see :mod:`course_lib.grading.integrity`) once the
  kernel is up, before any student code runs.

What it could not do is reported on stderr, never silently.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import sys

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000


def limit_memory(megabytes: int) -> None:
    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def limit_file_size(megabytes: int) -> None:
    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def isolate_network() -> str:
    """Enter a new, empty network namespace; return '' on success, else why it was not possible."""
    if not sys.platform.startswith("linux"):
        return f"network isolation needs Linux namespaces; this is {sys.platform}"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) == 0:
        return ""
    uid, gid = os.getuid(), os.getgid()
    # Without CAP_SYS_ADMIN an unprivileged user namespace may still allow it.
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
        for path, text in (("/proc/self/setgroups", "deny"), ("/proc/self/uid_map", f"{uid} {uid} 1"),
                           ("/proc/self/gid_map", f"{gid} {gid} 1")):
            try:
                with open(path, "w") as handle:
                    handle.write(text)
            except OSError:
                pass
        return ""
    return f"unshare failed: {os.strerror(ctypes.get_errno())}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory-mb", type=int, default=0, help="address-space cap (0: none)")
    parser.add_argument("--file-mb", type=int, default=0, help="largest file the kernel may write (0: none)")
    parser.add_argument("--no-network", action="store_true", help="run in an empty network namespace")
    parser.add_argument("-f", dest="connection_file", required=True)
    args = parser.parse_args(argv)

    if args.no_network:
        problem = isolate_network()
        if problem:
            print(f"[grader sandbox] network NOT isolated: {problem}", file=sys.stderr)
    if args.memory_mb:
        limit_memory(args.memory_mb)
    if args.file_mb:
        limit_file_size(args.file_mb)

    from ipykernel import kernelapp

    sys.argv = [
        sys.argv[0], "-f", args.connection_file,
        "--HistoryManager.hist_file=:memory:",
        "--IPKernelApp.exec_lines=['import course_lib.grading.integrity as _grader_integrity; "
        "_grader_integrity.snapshot(); del _grader_integrity']",
    ]
    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
