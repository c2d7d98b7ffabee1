"""Trusted verdicts: one submission graded by the grader's own code, its notebook run in a sandbox.

:func:`grade_notebook` is the whole per-submission job, a plain function of data (a
:class:`ChapterPlan` made once per batch, the submitted notebook, the limits) that a worker
process can run anywhere:

1. **Build** the notebook to run from the instructor's release: every cell comes from the
   release except the answer cells (``solution: true``), which are the student's, matched by
   ``grade_id``. A deleted or edited test cell therefore changes nothing, and a deleted answer
   leaves the release's stub (never the instructor's solution).
2. **Run** its code cells, test cells excepted, in a sandbox (:mod:`course_lib.grading.isolation`).
3. **Ask**: for each graded test cell, the chapter's check (:mod:`course_lib.checks`) is run with
   its visible cases and the instructor's hidden ones (``grader/<chapter>.py``): each case is a
   request the sandbox answers as data; the expected values and the comparison are computed here.
   From-scratch rules are judged on the answer cells' source. A failed hidden case says only that
   a hidden case of that exercise failed; what the sandbox printed while answering is never kept.

The result's ``verdicts`` decide the points (nbgrader then scores the cells from them, see
:mod:`course_lib.grading.verdicts`); ``outputs`` are what the student's own cells printed, for
feedback (plain text, escaped when rendered).
"""

from __future__ import annotations

import importlib.util
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_lib.checks import find_check
from course_lib.checks.base import Case, Check
from course_lib.grading.checks import CheckFailed
from course_lib.grading.isolation import Sandbox, SandboxBroke, SandboxLimits

HIDDEN_FAILED = ("a hidden case of {exercise} failed: your code passes the visible cases but not the "
                 "instructor's cases with other sizes and seeds. Check edge cases, and that nothing depends "
                 "on the visible examples.")
MAX_RESTARTS = 3  # fresh sandboxes per submission after a crash or time-out in a check


def nbgrader_meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def is_test_cell(cell) -> bool:
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_answer_cell(cell) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


@dataclass
class ChapterPlan:
    """What the grader needs of a chapter, made once per batch from the instructor's files."""

    chapter: str
    release: nbformat.NotebookNode                    # the student notebook as released
    checks: dict[str, str]                            # test cell grade_id -> check name
    hidden: dict[str, list[Case]] = field(default_factory=dict)  # check name -> hidden cases
    instructor: dict[str, Check] = field(default_factory=dict)   # checks the grader module completes

    def check_of(self, grade_id: str) -> Check:
        name = self.checks[grade_id]
        return self.instructor.get(name) or find_check(name)


def checks_named_by(release: nbformat.NotebookNode) -> dict[str, str]:
    """``{test cell grade_id: check name}`` from the ``check("name", obj)`` line of every test cell."""
    import ast

    named = {}
    for cell in release.cells:
        if not is_test_cell(cell):
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "check" and node.args \
                    and isinstance(node.args[0], ast.Constant):
                named[nbgrader_meta(cell)["grade_id"]] = node.args[0].value
    return named


def load_instructor_half(course_root: Path, chapter: str) -> tuple[dict[str, list[Case]], dict[str, Check]]:
    """``HIDDEN`` and (optional) ``CHECKS`` of the instructor's ``grader/<chapter>.py``, imported by
    path; ``CHECKS`` are the chapter's checks completed with reference implementations."""
    path = Path(course_root) / "grader" / f"{chapter}.py"
    if not path.is_file():
        return {}, {}
    spec = importlib.util.spec_from_file_location(f"course_grader_{chapter}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.HIDDEN), dict(getattr(module, "CHECKS", {}))


def make_plan(chapter: str, release: nbformat.NotebookNode, course_root: Path) -> ChapterPlan | None:
    """The chapter's plan, or None when its test cells do not name checks (a chapter on the old path)."""
    checks = checks_named_by(release)
    tests = [nbgrader_meta(c)["grade_id"] for c in release.cells if is_test_cell(c)]
    if not tests or set(checks) != set(tests):
        return None
    plan = ChapterPlan(chapter, release, checks, *load_instructor_half(course_root, chapter))
    for grade_id in tests:
        plan.check_of(grade_id)  # a KeyError names a test cell whose check does not exist
    return plan


@dataclass
class Verdict:
    passed: bool
    message: str = ""


@dataclass
class Result:
    """One submission's trusted outcome."""

    notebook: nbformat.NotebookNode                   # the notebook built from the release
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    outputs: dict[int, dict] = field(default_factory=dict)   # cell position -> {"stdout", "error"}
    events: list[str] = field(default_factory=list)   # what went wrong, for the status
    # Seconds the student's own code ran: their answer cells, and their functions answering checks
    # (measured by the grader from the messages' arrival; for reports of the grader's overhead).
    student_seconds: float = 0.0


def build_notebook(release: nbformat.NotebookNode, submitted: nbformat.NotebookNode,
                   events: list[str]) -> nbformat.NotebookNode:
    """The release with the student's answer cells (by grade_id) in place of its own."""
    answers: dict[str, nbformat.NotebookNode] = {}
    duplicates = []
    for cell in submitted.cells:
        meta = nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        if not isinstance(grade_id, str) or not meta.get("solution"):
            continue
        if grade_id in answers:
            duplicates.append(grade_id)
        else:
            answers[grade_id] = cell
    if duplicates:
        events.append(f"duplicate answer cells ({', '.join(sorted(set(duplicates)))[:200]}): the first was graded")
    built = nbformat.v4.new_notebook(metadata=release.metadata)
    missing = []
    for cell in release.cells:
        copy = nbformat.from_dict(cell)
        if is_answer_cell(cell):
            answer = answers.get(nbgrader_meta(cell)["grade_id"])
            if answer is not None and answer.get("cell_type") == cell.cell_type and isinstance(answer.get("source"), str):
                copy.source = answer.source
            else:
                missing.append(nbgrader_meta(cell)["grade_id"])
        if copy.cell_type == "code":
            copy.outputs, copy.execution_count = [], None
        built.cells.append(copy)
    if missing:
        events.append(f"answer cells missing, graded as released: {', '.join(missing)[:200]}")
    return built


class _Session:
    """A sandbox with the notebook's cells run, restarted (up to MAX_RESTARTS) when a check breaks it."""

    def __init__(self, cells: list[dict], limits: SandboxLimits, isolated: bool, result: Result,
                 answers: set[int] = frozenset()):
        self.cells, self.limits, self.isolated, self.result = cells, limits, isolated, result
        self.answers = answers  # positions of the student's answer cells, to time them
        self.box: Sandbox | None = None
        self.starts = 0
        self.skip: set[int] = set()   # cells that killed or hung a sandbox: not run again

    def _start(self) -> None:
        self.starts += 1
        self.box = Sandbox(self.limits, self.isolated)
        first = self.starts == 1
        self.box.send({"cells": [c for c in self.cells if c["index"] not in self.skip],
                       "cell_timeout": self.limits.cell_timeout, "max_output": self.limits.max_output,
                       "limits": {"memory_mb": self.limits.memory_mb, "processes": self.limits.processes,
                                  "file_mb": self.limits.file_mb,
                                  "cpu_seconds": int(self.limits.notebook_timeout * 2) or 0}})
        deadline = time.monotonic() + (self.limits.notebook_timeout or 10**9)
        pending = [c["index"] for c in self.cells if c["index"] not in self.skip]
        since = time.monotonic()
        while True:
            try:
                message = self.box.receive(deadline)
            except SandboxBroke as broke:
                if pending:  # the cell that was running never reported: it is not run next time
                    self.skip.add(pending[0])
                    if first:
                        self.result.outputs[pending[0]] = {"stdout": "", "error": ["NotRun", _why(broke)]}
                self._event(_why(broke))
                self.close()
                raise
            if message.get("ready") is True:
                return
            index = message.get("cell")
            if index in pending:
                pending.remove(index)
                now = time.monotonic()
                if first and index in self.answers:
                    self.result.student_seconds += now - since
                since = now
                if first:
                    self.result.outputs[index] = _cell_output(message)
                if isinstance(message.get("error"), list) and message["error"][:1] == ["CellTimeout"]:
                    self._event("cell time limit")
                if isinstance(message.get("error"), list) and message["error"][:1] == ["MemoryError"]:
                    self._event("memory limit")

    def _event(self, event: str) -> None:
        if event not in self.result.events:
            self.result.events.append(event)

    def ask(self, request: dict):
        """(ok, value-or-error) for one request; SandboxBroke when no sandbox can answer."""
        while self.box is None:
            if self.starts > MAX_RESTARTS:
                raise SandboxBroke("the notebook could not be run again")
            try:
                self._start()
            except SandboxBroke:
                continue
        request = dict(request, id=secrets.randbelow(2**31))  # a reply written ahead cannot match
        asked = time.monotonic()
        try:
            self.box.send(request)
            reply = self.box.receive(time.monotonic() + (self.limits.cell_timeout or 10**9) + 5)
        except SandboxBroke as broke:
            self._event(_why(broke))
            self.close()
            raise
        finally:
            self.result.student_seconds += time.monotonic() - asked
        if reply.get("id") != request["id"] or not isinstance(reply.get("ok"), bool):
            return False, ("MalformedReply", "the notebook answered out of turn")
        if reply["ok"]:
            return True, reply.get("value")
        return False, (str(reply.get("error", "Error"))[:100], str(reply.get("message", ""))[:500])

    def close(self) -> None:
        if self.box is not None:
            self.box.close()
            self.box = None


def _why(broke: SandboxBroke) -> str:
    text = str(broke)
    return "notebook time limit" if text == "time limit" else f"kernel crashed ({text})"


def _cell_output(message: dict) -> dict:
    stdout = message.get("stdout") if isinstance(message.get("stdout"), str) else ""
    error = message.get("error")
    if not (isinstance(error, list) and len(error) == 2 and all(isinstance(e, str) for e in error)):
        error = None
    return {"stdout": stdout, "error": error}


def run_check(check: Check, hidden: list[Case], answers: list[str], session: _Session) -> Verdict:
    """One exercise: its from-scratch rule on the source, then every case through the sandbox."""
    exercise = check.target
    if check.rule is not None:
        problem = check.rule.judge_sources(answers, check.target)
        if problem:
            return Verdict(False, problem)
    for is_hidden, case in [(False, c) for c in check.visible_cases()] + [(True, c) for c in hidden]:
        try:
            ok, value = session.ask(check.request(case))
        except SandboxBroke as broke:
            where = "a hidden case" if is_hidden else check.label(case)
            return Verdict(False, f"{exercise}: the notebook stopped while computing {where} "
                                  f"({_why(broke)}).")
        if not ok:
            if is_hidden:
                return Verdict(False, f"{exercise} raised {value[0]} on a hidden case.")
            return Verdict(False, f"{check.label(case)} raised {value[0]}: {value[1]}")
        try:
            check.compare(case, value, check.expected(case))
        except CheckFailed as failure:
            return Verdict(False, HIDDEN_FAILED.format(exercise=exercise) if is_hidden else str(failure))
        except Exception as error:  # a value of a shape the comparison cannot read
            if is_hidden:
                return Verdict(False, HIDDEN_FAILED.format(exercise=exercise))
            return Verdict(False, f"{check.label(case)} returned a value the check cannot read "
                                  f"({type(error).__name__}).")
    return Verdict(True)


def grade_notebook(plan: ChapterPlan, submitted: nbformat.NotebookNode, limits: SandboxLimits,
                   isolated: bool = True) -> Result:
    """Build, run and check one submission (see the module's docstring); never raises for its content."""
    result = Result(nbformat.v4.new_notebook())
    result.notebook = build_notebook(plan.release, submitted, result.events)
    cells = result.notebook.cells
    last_test = max((i for i, c in enumerate(cells) if is_test_cell(c)), default=-1)
    to_run = [{"index": i, "source": c.source} for i, c in enumerate(cells[:last_test])
              if c.cell_type == "code" and not is_test_cell(c)]
    answers = [c.source for c in cells if is_answer_cell(c) and c.cell_type == "code"]
    session = _Session(to_run, limits, isolated, result,
                       answers={i for i, c in enumerate(cells) if is_answer_cell(c) and c.cell_type == "code"})
    try:
        for cell in cells:
            if is_test_cell(cell):
                grade_id = nbgrader_meta(cell)["grade_id"]
                check = plan.check_of(grade_id)
                result.verdicts[grade_id] = run_check(check, plan.hidden.get(check.name, []), answers, session)
    finally:
        session.close()
    return result
