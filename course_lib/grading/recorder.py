"""nbgrader's part of a grading run, in ONE long-lived process per batch instead of two per chunk.

``course grade`` used to start ``nbgrader autograde`` and ``nbgrader generate_feedback`` for every
chunk of submissions. Profiled on the params chapter (2 shared cores), each of those processes
spent most of its time starting: importing nbformat imports jsonschema, whose optional
``rfc3987_syntax`` compiles 39 lark grammars at import (3-8 s per process), and every gradebook
commit was an fsync'd SQLite transaction (about 330 per chunk of 8). :class:`Recorder` starts one
process (``python -m course_lib.grading.recorder``) that pays the imports once, then, per request:

* ``{"op": "release", "root": R, "chapter": C}``: ``nbgrader generate_assignment`` of the template;
* ``{"op": "record", "root": R, "chapter": C, "verdicts": V}``: ``autograde`` of every student in
  ``R/submitted`` (nbgrader's own converter, with the course's :class:`ApplyVerdicts` pipeline, so
  no kernel is started), then ``generate_feedback``, then the scores read from ``R``'s gradebook.
  Reply: ``{"ok": true, "scores": {student: {grade_id: [score, needs_manual_grade]}},
  "autograde_log": ..., "feedback_log": ...}``. With ``"manual": {student: {grade_id: [points or
  null, comment]}}`` (written answers graded by people, :mod:`course_lib.grading.written`), those
  are entered in the gradebook between autograde and feedback;
* ``{"op": "manual_scores", "gradebook": G, "chapter": C, "questions": [...]}``: the points and
  comments people entered in nbgrader's formgrader: ``{"ok": true, "marks": {student: {grade_id:
  [points, comment]}}}``.

What this process handles is trusted data only: the instructor's template and the notebooks the
trusted grader built (:mod:`course_lib.grading.trusted`), with outputs it decided. Nothing a
submission wrote runs here, exactly as before; the grader bounds every wait on it and kills it on
a time-out (:meth:`Recorder.request`).

Two settings differ from the nbgrader command line, both for speed and both harmless here:
``rfc3987_syntax`` is not imported (jsonschema then skips the "iri" string format, which no
notebook schema uses), and the gradebooks, throw-away copies under ``.work`` removed at the end,
are written without fsync (``PRAGMA synchronous=OFF``).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

from course_lib.grading.course import NbgraderError
from course_lib.grading.tools import end_process_group, venv_command
from course_lib.grading.verdicts import VERDICTS_VARIABLE


class RecorderFailed(RuntimeError):
    """The recorder process died, hung past its deadline or answered outside the protocol."""


# ---------------------------------------------------------------------------------------------
# the grader's side


class Recorder:
    """The grader's handle on the nbgrader process; ``with Recorder() as recorder:`` ends it for sure.

    A request that fails (time-out, crash) kills the process; the next request starts a new one, so
    one chunk's failure costs only that chunk.
    """

    def __init__(self):
        self.process: subprocess.Popen | None = None
        self._buffer = b""

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(Path(venv_command("nbgrader")).parent), env.get("PATH", "")])
        self.process = subprocess.Popen([sys.executable, "-m", "course_lib.grading.recorder"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        start_new_session=True, env=env)
        os.set_blocking(self.process.stdout.fileno(), False)
        self._buffer = b""

    def close(self) -> None:
        if self.process is not None:
            end_process_group(self.process)
            self.process = None

    def request(self, message: dict, timeout: float) -> dict:
        """Send one request and wait at most ``timeout`` seconds for its reply."""
        if self.process is None or self.process.poll() is not None:
            self.close()
            self._start()
        try:
            self.process.stdin.write((json.dumps(message) + "\n").encode())
            self.process.stdin.flush()
            deadline = time.monotonic() + timeout
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RecorderFailed(f"nbgrader did not finish within {timeout:.0f} s")
                ready, _, _ = select.select([self.process.stdout], [], [], min(remaining, 1.0))
                if ready:
                    chunk = os.read(self.process.stdout.fileno(), 1 << 20)
                    if not chunk:
                        raise RecorderFailed(f"nbgrader's process ended (exit {self.process.wait()})")
                    self._buffer += chunk
            line, self._buffer = self._buffer.split(b"\n", 1)
            return json.loads(line)
        except (RecorderFailed, OSError, ValueError) as error:
            self.close()
            raise RecorderFailed(str(error)) from None

    def release(self, root: Path, chapter: str, timeout: float = 600) -> None:
        """``nbgrader generate_assignment CHAPTER`` in the course ``root``; NbgraderError on failure."""
        reply = self.request({"op": "release", "root": str(root), "chapter": chapter}, timeout)
        if not reply.get("ok"):
            raise NbgraderError(f"`nbgrader generate_assignment {chapter}` failed:\n{reply.get('log', '')[-3000:]}"
                                f"{reply.get('error', '')[-3000:]}")

    def record(self, root: Path, chapter: str, verdicts: Path, timeout: float) -> dict:
        """Autograde and feedback of every submission under ``root/submitted``; the reply (see module)."""
        return self.request({"op": "record", "root": str(root), "chapter": chapter, "verdicts": str(verdicts)},
                            timeout)


# ---------------------------------------------------------------------------------------------
# the recorder process


def _lean_imports() -> None:
    """Skip jsonschema's optional rfc3987_syntax (lark grammars compiled at import, seconds) and
    write the throw-away gradebooks without fsync."""
    sys.modules["rfc3987_syntax"] = None  # an ImportError for jsonschema, which then skips that format
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _no_fsync(connection, _record):
        if type(connection).__module__.startswith("sqlite3"):
            connection.execute("PRAGMA synchronous=OFF")


def _course(root: Path, chapter: str):
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    coursedir = CourseDirectory(config=config, root=str(root))
    coursedir.assignment_id = chapter
    return config, coursedir


def _run(converter) -> dict:
    from nbgrader.utils import capture_log

    result = capture_log(converter)
    return {"ok": bool(result.get("success")), "log": result.get("log", ""), "error": result.get("error", "")}


def _scores(root: Path, chapter: str) -> dict:
    from nbgrader.api import Gradebook, MissingEntry

    scores = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for student_dir in sorted((root / "submitted").iterdir()):
            try:
                notebook = gradebook.find_submission_notebook(chapter, chapter, student_dir.name)
            except MissingEntry:
                continue  # nbgrader recorded nothing for this student
            scores[student_dir.name] = {g.name: [float(g.score or 0.0), bool(g.needs_manual_grade)]
                                        for g in notebook.grades}
    return scores


def _enter_manual(root: Path, chapter: str, manual: dict) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for student, marks in manual.items():
            for grade_id, (points, comment) in marks.items():
                try:
                    grade = gradebook.find_grade(grade_id, chapter, chapter, student)
                except MissingEntry:
                    continue
                if points is not None:
                    grade.manual_score, grade.needs_manual_grade = float(points), False
                try:
                    gradebook.find_comment(grade_id, chapter, chapter, student).manual_comment = str(comment)
                except MissingEntry:
                    pass
        gradebook.db.commit()


def _manual_scores(path: Path, chapter: str, questions: list[str]) -> dict:
    from nbgrader.api import Gradebook, MissingEntry

    marks: dict[str, dict] = {}
    with Gradebook(f"sqlite:///{path}") as gradebook:
        for student in gradebook.students:
            for grade_id in questions:
                try:
                    grade = gradebook.find_grade(grade_id, chapter, chapter, student.id)
                    comment = gradebook.find_comment(grade_id, chapter, chapter, student.id).manual_comment
                except MissingEntry:
                    continue
                if grade.manual_score is not None or comment:
                    marks.setdefault(student.id, {})[grade_id] = [grade.manual_score, comment or ""]
    return marks


def handle(request: dict) -> dict:
    """One request of the protocol (see the module docstring)."""
    from nbgrader.converters import Autograde, GenerateAssignment, GenerateFeedback

    if request["op"] == "manual_scores":
        return {"ok": True, "marks": _manual_scores(Path(request["gradebook"]), request["chapter"],
                                                    request["questions"])}
    root, chapter = Path(request["root"]), request["chapter"]
    os.chdir(root)  # nbgrader resolves some paths against the working directory
    config, coursedir = _course(root, chapter)
    if request["op"] == "release":
        converter = GenerateAssignment(coursedir=coursedir, config=config)
        converter.force = True
        return _run(converter)
    if request["op"] == "record":
        os.environ[VERDICTS_VARIABLE] = request["verdicts"]
        os.environ["JUPYTER_PATH"] = str(root / "jupyter")
        coursedir.student_id = "*"
        autograde = Autograde(coursedir=coursedir, config=config)
        autograde.force, autograde.create_student = True, True
        graded = _run(autograde)
        if request.get("manual"):
            _enter_manual(root, chapter, request["manual"])
        feedback = GenerateFeedback(coursedir=coursedir, config=config)
        feedback.force = True
        written = _run(feedback)
        return {"ok": True, "scores": _scores(root, chapter),
                "autograde_log": graded["log"] + graded["error"], "feedback_log": written["log"] + written["error"]}
    return {"ok": False, "error": f"unknown op {request['op']!r}"}


def main() -> None:
    # Sandboxes have wall-clock limits and nbgrader's work has none that tight: on a busy machine the
    # submissions' cells get the CPU first.
    os.nice(10)
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # nbgrader's prints cannot break the protocol
    _lean_imports()
    for line in sys.stdin:
        try:
            reply = handle(json.loads(line))
        except Exception as error:  # a broken course folder: say so, stay up for the next chunk
            import traceback

            reply = {"ok": False, "error": f"{type(error).__name__}: {error}", "log": traceback.format_exc()[-3000:]}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
