"""Grade a class: every submission of one chapter, each in its own nbgrader course, within limits.

``grade_class(chapter, submissions_dir, output_dir)`` is what ``course grade`` runs:

1. the chapter is released once into a *template* course (``nbgrader generate_assignment``,
   gradebook included), with the grader's kernel and pipeline configured;
2. every submission is checked (:mod:`course_lib.grading.submissions`) and graded in a private
   copy of the template with ``nbgrader autograde`` then ``nbgrader generate_feedback``, in
   ``jobs`` parallel processes -- private copies mean parallel runs never share a gradebook;
3. ``output_dir`` receives ``grades.csv`` (one row per student, one column per graded cell),
   ``feedback/<student>.html``, ``autograded/<student>.ipynb`` and ``summary.txt``.

A submission can only lose its own points: a broken file, a crash, a time-out or a run-away
output becomes a status in its row, and the batch goes on.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_lib.grading.autograde import read_scores
from course_lib.grading.course import (STATUS_VARIABLE, check_config_loaded, make_course, nbgrader,
                                       repository_root, solution_notebook)
from course_lib.grading.integrity import find_tampering
from course_lib.grading.submissions import Submission, find_submissions, load_submission
from course_lib.grading.tools import venv_command

KERNEL_NAME = "rnn-course-grader"


@dataclass(frozen=True)
class Limits:
    """What one submission may use. Times in seconds, sizes in megabytes (0 = no limit)."""

    cell_timeout: int = 300
    notebook_timeout: int = 1800
    memory_mb: int = 4096
    file_mb: int = 200
    max_output_mb: float = 2.0
    no_network: bool = True


@dataclass
class StudentGrade:
    """One row of grades.csv."""

    student: str
    scores: dict[str, float | None] = field(default_factory=dict)  # None: waits for a person
    status: str = "ok"

    @property
    def total(self) -> float:
        return sum(score for score in self.scores.values() if score is not None)


def graded_cells(notebook: nbformat.NotebookNode) -> dict[str, float]:
    """``{grade_id: points}`` of the graded cells of a notebook, in notebook order."""
    return {cell.metadata["nbgrader"]["grade_id"]: float(cell.metadata["nbgrader"].get("points", 0))
            for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade")}


def network_isolation_problem() -> str:
    """'' when a kernel can be put in an empty network namespace on this machine, else why not."""
    probe = subprocess.run(
        [sys.executable, "-c", "from course_lib.grading.sandbox import isolate_network as i; print(i())"],
        capture_output=True, text=True, timeout=60)
    return probe.stdout.strip() if probe.returncode == 0 else (probe.stderr.strip()[-300:] or "probe failed")


def _pipeline_config(limits: Limits, ipc: bool) -> str:
    """nbgrader settings: our Execute and feedback steps in nbgrader's own default pipelines."""
    # Unix sockets reach a kernel in its own network namespace; an absolute path, because the kernel's
    # working directory (the notebook's folder) is not nbgrader's (the course folder).
    transport = ("import os\nc.KernelManager.transport = 'ipc'\n"
                 "c.KernelManager.ip = os.path.join(os.getcwd(), 'kernel')\n") if ipc else ""
    return textwrap.dedent(f"""
        from nbgrader.converters.autograde import Autograde
        from nbgrader.converters.generate_feedback import GenerateFeedback
        from nbgrader.preprocessors import Execute
        from course_lib.grading.execute import GuardedExecute
        from course_lib.grading.feedback import HideHiddenTests

        c.Autograde.autograde_preprocessors = [
            GuardedExecute if step is Execute else step
            for step in Autograde.class_traits()["autograde_preprocessors"].default()]
        c.GenerateFeedback.preprocessors = (
            [HideHiddenTests] + list(GenerateFeedback.class_traits()["preprocessors"].default()))
        c.GuardedExecute.kernel_name = {KERNEL_NAME!r}
        c.GuardedExecute.timeout = {int(limits.cell_timeout) or None}
        c.GuardedExecute.notebook_timeout = {int(limits.notebook_timeout)}
        c.GuardedExecute.max_output_bytes = {int(limits.max_output_mb * 1_000_000)}
        c.GuardedExecute.startup_timeout = 120
    """) + transport


def _write_kernelspec(folder: Path, limits: Limits, isolate: bool) -> None:
    argv = [sys.executable, "-m", "course_lib.grading.sandbox", "--memory-mb", str(limits.memory_mb),
            "--file-mb", str(limits.file_mb)] + (["--no-network"] if isolate else []) + ["-f", "{connection_file}"]
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": argv, "display_name": "RNN course grader", "language": "python"}, indent=1))


def prepare_template(root: Path, chapter: str, solutions_dir: Path, limits: Limits, isolate: bool) -> Path:
    """A released course for ``chapter`` with the grader's kernel and pipeline; returns root."""
    make_course(root, solutions_dir, chapter, extra_config=_pipeline_config(limits, ipc=isolate))
    _write_kernelspec(root / "jupyter", limits, isolate)
    nbgrader(root, "generate_assignment", chapter, "--force", timeout=600)
    return root


def _run_nbgrader(root: Path, args: list[str], env: dict[str, str], timeout: float) -> tuple[int | None, str]:
    """Run nbgrader in its own process group; on time-out kill the group (kernel included)."""
    process = subprocess.Popen([venv_command("nbgrader"), *args], cwd=root, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
        check_config_loaded(output)
        return process.returncode, output
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return None, output


def grade_submission(template: Path, chapter: str, submission: Submission, limits: Limits,
                     output_dir: Path, cells: dict[str, float]) -> StudentGrade:
    """Autograde one checked submission in a private copy of the template; write its feedback."""
    grade = StudentGrade(submission.student, {grade_id: 0.0 for grade_id in cells})
    if submission.notebook is None:
        grade.status = f"not graded: {submission.problem}"
        return grade
    student = submission.student
    with tempfile.TemporaryDirectory(prefix=f"grade-{student}-") as tmp:
        root = Path(shutil.copytree(template, Path(tmp) / "course"))
        target = root / "submitted" / student / chapter / f"{chapter}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(submission.notebook, target)
        # Graded cells never need the chapter's training sizes: notebooks run with the smoke profile.
        env = dict(os.environ, JUPYTER_PATH=str(root / "jupyter"), COURSE_PROFILE="smoke",
                   **{STATUS_VARIABLE: str(Path(tmp) / "status.json")})
        env["PATH"] = os.pathsep.join([str(Path(venv_command("nbgrader")).parent), env.get("PATH", "")])
        budget = limits.notebook_timeout + 180 if limits.notebook_timeout else None
        code, log = _run_nbgrader(root, ["autograde", chapter, "--student", student, "--force"], env, budget)
        events = json.loads((Path(tmp) / "status.json").read_text())["events"] \
            if (Path(tmp) / "status.json").is_file() else []
        if code is None:
            grade.status = "grader time limit: the whole run was stopped"
            return grade
        try:
            scores = read_scores(root, chapter, student)
        except Exception:  # nbgrader recorded nothing: it failed before scoring
            grade.status = "grading failed: " + (log.strip().splitlines() or ["no output"])[-1][:200]
            return grade
        grade.scores = {grade_id: (None if c.needs_manual_grade else c.score)
                        for grade_id, c in scores.cells.items()}
        tampering = [f for cell in submission.notebook.cells if cell.cell_type == "code"
                     and not cell.metadata.get("nbgrader", {}).get("grade") for f in find_tampering(cell.source)]
        problems = events + ([f"tampering suspected ({'; '.join(tampering)})"] if tampering else [])
        grade.status = "ok" if not problems else "; ".join(problems)
        _run_nbgrader(root, ["generate_feedback", chapter, "--student", student, "--force"], env, 600)
        _collect(root, chapter, student, output_dir)
    return grade


def _collect(root: Path, chapter: str, student: str, output_dir: Path) -> None:
    feedback = root / "feedback" / student / chapter / f"{chapter}.html"
    autograded = root / "autograded" / student / chapter / f"{chapter}.ipynb"
    for source, target in ((feedback, output_dir / "feedback" / f"{student}.html"),
                           (autograded, output_dir / "autograded" / f"{student}.ipynb")):
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            target.chmod(0o644)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "_"


def grade_class(chapter: str, submissions_dir: Path, output_dir: Path, *, jobs: int = 1,
                limits: Limits = Limits(), solutions_dir: Path | None = None,
                progress=None) -> list[StudentGrade]:
    """Grade every submission of ``chapter`` in ``submissions_dir``; write the reports to ``output_dir``."""
    solutions_dir = Path(solutions_dir or repository_root() / "solutions")
    output_dir = Path(output_dir)
    cells = graded_cells(nbformat.read(solution_notebook(solutions_dir, chapter), as_version=4))
    found = find_submissions(Path(submissions_dir), chapter)
    submissions = [load_submission(_safe_name(student), path) for student, path in found.items()]
    isolate = limits.no_network and not network_isolation_problem()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"grade-{chapter}-template-") as tmp:
        template = prepare_template(Path(tmp), chapter, solutions_dir, limits, isolate)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(grade_submission, template, chapter, s, limits, output_dir, cells)
                       for s in submissions]
            grades = []
            for future in futures:
                grades.append(future.result())
                if progress:
                    progress(grades[-1])
    grades.sort(key=lambda g: g.student)
    write_grades_csv(output_dir / "grades.csv", grades, cells)
    summary = summarize(chapter, grades, cells, isolate, time.monotonic() - started, jobs)
    (output_dir / "summary.txt").write_text(summary)
    return grades


def _points(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def write_grades_csv(path: Path, grades: list[StudentGrade], cells: dict[str, float]) -> None:
    """student, one column per graded cell (empty = waits for manual grading), total, max, status."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", *cells, "total", "max", "status"])
    for grade in grades:
        writer.writerow([grade.student, *(_points(grade.scores.get(g, 0.0)) for g in cells),
                         _points(grade.total), _points(sum(cells.values())), grade.status])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buffer.getvalue())


def summarize(chapter: str, grades: list[StudentGrade], cells: dict[str, float], isolated: bool,
              seconds: float, jobs: int) -> str:
    """A table for the terminal: one line per student, then the class mean."""
    maximum = sum(cells.values())
    width = max([len(g.student) for g in grades] + [7])
    lines = [f"{chapter}: {len(grades)} submissions graded in {seconds:.0f} s with {jobs} job(s); "
             f"network isolation {'on' if isolated else 'OFF (not possible on this machine)'}",
             f"{'student':<{width}}  {'points':>12}  status"]
    for grade in grades:
        lines.append(f"{grade.student:<{width}}  {grade.total:>6g} / {maximum:<4g}  {grade.status}")
    if grades:
        lines.append(f"{'mean':<{width}}  {sum(g.total for g in grades) / len(grades):>6.2f} / {maximum:<4g}")
    return "\n".join(lines) + "\n"
