"""Inside the sandbox: run one notebook's code cells, then answer the grader's calls as data.

``python -m course_lib.grading.oracle`` is what the grader starts inside the sandbox
(:mod:`course_lib.grading.isolation`). Nothing here decides a grade; the process is the student's
from the first cell on, and everything it sends back is checked by the grader. The protocol, one
JSON line per message (:mod:`course_lib.grading.wire`):

1. grader -> oracle: ``{"cells": [{"index": i, "source": s}, ...], "cell_timeout": s,
   "max_output": bytes}`` -- the notebook's code cells to run, in order (test cells are not among
   them: checks run in the grader);
2. oracle -> grader: ``{"cell": i, "stdout": text, "error": [name, message] | null}`` after each
   cell, then ``{"ready": true}``;
3. grader -> oracle: requests such as ``{"id": k, "op": "call", "target": "lstm_params",
   "args": [...], "kwargs": {...}}`` (see :func:`answer`); oracle -> grader: ``{"id": k,
   "ok": true, "value": ...}`` or ``{"id": k, "ok": false, "error": name, "message": text}``.

What a call prints is dropped: nothing printed while a check runs can reach feedback.
"""

from __future__ import annotations

import contextlib
import io
import linecache
import os
import resource
import signal
import sys

from course_lib.grading import wire


class CellTimeout(BaseException):
    """Raised inside a cell or call that ran past its time (a BaseException: `except Exception` in
    the student's code does not swallow it)."""


class CappedText(io.TextIOBase):
    """A text stream keeping at most ``limit`` characters (the rest is counted, not kept)."""

    def __init__(self, limit: int):
        self.limit, self.parts, self.kept, self.dropped = limit, [], 0, 0

    def writable(self) -> bool:
        return True

    def write(self, text) -> int:
        text = str(text)
        room = max(0, self.limit - self.kept)
        self.parts.append(text[:room])
        self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - room)
        return len(text)

    def getvalue(self) -> str:
        suffix = f"\n[grader] output truncated: {self.dropped} more characters\n" if self.dropped else ""
        return "".join(self.parts) + suffix


def _alarm(signum, frame):
    raise CellTimeout("ran past its time limit")


@contextlib.contextmanager
def time_limit(seconds: float):
    """Interrupt the code inside after ``seconds`` (the grader also kills the sandbox after its own limit)."""
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def describe(error: BaseException) -> list[str]:
    """[type name, message], both cut short: what the grader may show of an error."""
    try:
        message = str(error)
    except BaseException:  # a student's exception whose __str__ raises
        message = ""
    return [type(error).__name__[:100], message[:2000]]


def run_cells(cells: list[dict], namespace: dict, cell_timeout: float, max_output: int, send) -> None:
    """Execute each cell in ``namespace`` as a notebook would, reporting its output and error."""
    budget = max_output
    for cell in cells:
        index, source = int(cell["index"]), str(cell["source"])
        filename = f"<cell {index}>"
        # inspect.getsource reads linecache: a check the student calls can then read their code.
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        out = CappedText(max(0, budget))
        error = None
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), time_limit(cell_timeout):
                exec(compile(source, filename, "exec"), namespace)
        except BaseException as raised:  # SystemExit, a recursion bomb, anything: the cell failed
            error = describe(raised)
        budget -= out.kept
        try:
            send({"cell": index, "stdout": out.getvalue(), "error": error})
        except BaseException:
            send({"cell": index, "stdout": "", "error": ["OutputError", "the cell's output could not be sent"]})


def _resolve(namespace: dict, target: str):
    value = namespace
    for k, part in enumerate(target.split(".")):
        value = value[part] if k == 0 else getattr(value, part)
    return value


def answer(request: dict, namespace: dict, timeout: float):
    """The value a request asks for, computed by the student's objects (see
    :func:`course_lib.checks.base.perform`); what the code prints meanwhile is dropped."""
    from course_lib.checks.base import perform

    sink = CappedText(0)
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), time_limit(timeout):
        return perform(request, _resolve(namespace, request["target"]))


def limit_resources(memory_mb: int, cpu_seconds: int, processes: int, file_mb: int) -> None:
    """Caps the sandbox's processes cannot raise again (hard limits)."""
    for which, value in ((resource.RLIMIT_AS, memory_mb * 2**20), (resource.RLIMIT_CPU, cpu_seconds),
                         (resource.RLIMIT_NPROC, processes), (resource.RLIMIT_FSIZE, file_mb * 2**20),
                         (resource.RLIMIT_CORE, 0)):
        if value:
            resource.setrlimit(which, (value, value))


def main() -> None:
    # Our channel to the grader is the stdin/stdout we were started with; the notebook's own
    # prints go to per-cell buffers and anything written at the C level to /dev/null.
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    replies = os.fdopen(os.dup(1), "wb", buffering=0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)

    def send(message: dict) -> None:
        replies.write(wire.dumps(message))

    def receive():
        line = requests.readline(wire.MAX_LINE_BYTES + 1)
        return None if not line else wire.loads(line)

    # The environment's heavy import, done before the first cell (and before the grader's setup
    # arrives): on a busy machine its seconds must not count against the first cell's time limit.
    try:
        import torch  # noqa: F401
    except Exception:
        pass
    setup = receive()
    limits = setup.get("limits", {})
    limit_resources(int(limits.get("memory_mb", 0)), int(limits.get("cpu_seconds", 0)),
                    int(limits.get("processes", 0)), int(limits.get("file_mb", 0)))
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    sys.argv = ["notebook"]
    cell_timeout = float(setup.get("cell_timeout", 300))
    run_cells(setup["cells"], namespace, cell_timeout, int(setup.get("max_output", 2_000_000)), send)
    send({"ready": True})
    while (request := receive()) is not None:
        try:
            value = answer(request, namespace, cell_timeout)
            reply = {"id": request.get("id"), "ok": True, "value": wire.encode(value)}
        except BaseException as error:
            reply = {"id": request.get("id"), "ok": False, "error": describe(error)[0],
                     "message": describe(error)[1]}
        try:
            send(reply)
        except BaseException as error:  # the value could not be sent as data
            send({"id": request.get("id"), "ok": False, "error": "UnsendableValue", "message": str(error)[:200]})


if __name__ == "__main__":
    main()
