"""Grade a class: every submission of one chapter, one row each, whatever a submission does.

``grade_class(chapter, submissions_dir, output_dir)`` is what ``course grade`` runs:

1. the chapter is released once into a *template* course (``nbgrader generate_assignment``,
   gradebook included) inside ``output_dir/.work`` (private to the grading user, removed at the
   end and by the next run), configured by :mod:`course_lib.grading.pipeline`;
2. every entry of ``submissions_dir`` gets a row (:mod:`course_lib.grading.submissions`: ids made
   unique after cleaning, broken files given a status). Each submission goes through
   :func:`prepare_one`, a plain function of data a worker could run anywhere: the trusted grader
   (:mod:`course_lib.grading.trusted`) runs its notebook in a sandbox and decides every test
   cell's verdict. Then, a chunk of submissions at a time, :func:`record_chunk` has nbgrader
   record them in a copy of the template: one ``nbgrader autograde`` turns the verdicts into
   scores in its gradebook, one ``nbgrader generate_feedback`` writes the pages;
3. each finished row is appended to ``output_dir/rows.jsonl`` and ``grades.csv`` is rewritten, so
   a killed grader leaves what it finished and a re-run skips submissions graded already (same
   file content, by SHA-256); ``feedback/<student>.html``, ``autograded/<student>.ipynb`` and
   ``summary.txt`` complete the output. A progress bar with an ETA shows the batch.

Chapters whose test cells do not name checks yet are graded the old way only on request
(``legacy_kernel=True``): their kernel decides pass or fail and can forge it (issue 13).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import nbformat
from tqdm import tqdm

from course_lib.grading.autograde import read_scores
from course_lib.course_root import find_course
from course_lib.grading.course import (STATUS_VARIABLE, check_config_loaded, make_course, nbgrader,
                                       solution_notebook)
from course_lib.grading.integrity import find_tampering
from course_lib.grading.isolation import SandboxLimits, probe
from course_lib.grading.pipeline import (feedback_config, legacy_config, trusted_config,
                                         write_legacy_kernelspec)
from course_lib.grading.submissions import find_submissions, load_submission, unique_ids
from course_lib.grading.tools import venv_command
from course_lib.grading.trusted import ChapterPlan, grade_notebook, make_plan
from course_lib.grading.verdicts import VERDICTS_VARIABLE, copy_mathjax, write_feedback_template

NO_SANDBOX_RISK = ("`course grade --no-sandbox` grades without isolation: the submissions' code then runs as "
                   "you, can read and change every file you can (the gradebook, solutions/, grader/, other "
                   "submissions, this repository) and reach the network. Use it only for notebooks you trust.")


class GradingRefused(RuntimeError):
    """``course grade`` will not grade this way; the message says why and what to do."""


@dataclass(frozen=True)
class Limits(SandboxLimits):
    """What one submission may use: the sandbox's limits, with the output cap in megabytes, and the
    legacy kernel path's network switch."""

    max_output_mb: float = 2.0
    no_network: bool = True

    def sandbox(self) -> SandboxLimits:
        fields = {f: getattr(self, f) for f in SandboxLimits.__dataclass_fields__}
        return SandboxLimits(**dict(fields, max_output=int(self.max_output_mb * 1_000_000)))


@dataclass
class StudentGrade:
    """One row of grades.csv (and of rows.jsonl, with the file's name and hash)."""

    student: str
    scores: dict[str, float | None] = field(default_factory=dict)  # None: waits for a person
    status: str = "ok"
    entry: str = ""
    digest: str = ""

    @property
    def total(self) -> float:
        return sum(score for score in self.scores.values() if score is not None)


@dataclass
class Job:
    """Everything :func:`prepare_one` needs for one submission (data only)."""

    chapter: str
    entry: str
    student: str
    note: str
    path: Path | None
    template: Path
    work: Path
    output_dir: Path
    cells: dict[str, float]
    limits: Limits
    plan: ChapterPlan | None      # None: the legacy kernel path
    isolated: bool


def graded_cells(notebook: nbformat.NotebookNode) -> dict[str, float]:
    """``{grade_id: points}`` of the graded cells of a notebook, in notebook order."""
    return {cell.metadata["nbgrader"]["grade_id"]: float(cell.metadata["nbgrader"].get("points", 0))
            for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade")}


def network_isolation_problem() -> str:
    """'' when a legacy kernel can be put in an empty network namespace on this machine, else why not."""
    probe_run = subprocess.run(
        [sys.executable, "-c", "from course_lib.grading.sandbox import isolate_network as i; print(i())"],
        capture_output=True, text=True, timeout=60)
    return probe_run.stdout.strip() if probe_run.returncode == 0 else (probe_run.stderr.strip()[-300:] or "probe failed")


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


def _collect(root: Path, chapter: str, student: str, output_dir: Path) -> bool:
    """Copy the feedback page and the autograded notebook to the output; True if the page was there."""
    copy_mathjax(output_dir / "feedback")
    feedback = root / "feedback" / student / chapter / f"{chapter}.html"
    autograded = root / "autograded" / student / chapter / f"{chapter}.ipynb"
    for source, target in ((feedback, output_dir / "feedback" / f"{student}.html"),
                           (autograded, output_dir / "autograded" / f"{student}.ipynb")):
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            target.chmod(0o644)
    return feedback.is_file()


def _nbgrader_round(job: Job, notebook: nbformat.NotebookNode, env_extra: dict[str, str],
                    autograde_timeout: float | None) -> tuple[dict | None, str, str]:
    """nbgrader autograde and generate_feedback of one notebook in a private copy of the template.

    Returns (scores or None, a status for failures, the autograde log).
    """
    root = Path(shutil.copytree(job.template, job.work / "course"))
    target = root / "submitted" / job.student / job.chapter / f"{job.chapter}.ipynb"
    target.parent.mkdir(parents=True)
    nbformat.write(notebook, target)
    env = dict(os.environ, JUPYTER_PATH=str(root / "jupyter"), COURSE_PROFILE="smoke", **env_extra)
    env["PATH"] = os.pathsep.join([str(Path(venv_command("nbgrader")).parent), env.get("PATH", "")])
    code, log = _run_nbgrader(root, ["autograde", job.chapter, "--student", job.student, "--force"], env,
                              autograde_timeout)
    if code is None:
        return None, "grader time limit: the whole run was stopped", log
    try:
        scores = read_scores(root, job.chapter, job.student)
    except Exception:  # nbgrader recorded nothing: it failed before scoring
        return None, "nbgrader failed: " + (log.strip().splitlines() or ["no output"])[-1][:200], log
    if code != 0:
        return None, "nbgrader failed: " + (log.strip().splitlines() or ["no output"])[-1][:200], log
    _, feedback_log = _run_nbgrader(root, ["generate_feedback", job.chapter, "--student", job.student, "--force"],
                                    env, 600)
    written = _collect(root, job.chapter, job.student, job.output_dir)
    failure = "" if written else "feedback not written: " + (feedback_log.strip().splitlines() or ["no output"])[-1][:200]
    return {grade_id: (None if c.needs_manual_grade else c.score) for grade_id, c in scores.cells.items()}, failure, log


@dataclass
class Prepared:
    """One submission after the trusted grader: its row so far, and what nbgrader must record."""

    grade: StudentGrade
    notebook: nbformat.NotebookNode | None = None  # None: nothing for nbgrader (not graded, or failed)
    verdicts: dict = field(default_factory=dict)
    events: list[str] = field(default_factory=list)


def prepare_one(job: Job) -> Prepared:
    """The per-submission work of a trusted chapter, data in and data out (a worker can run it):
    load and check the file, run its notebook in the sandbox, decide every test cell's verdict."""
    grade = StudentGrade(job.student, {grade_id: 0.0 for grade_id in job.cells}, entry=job.entry)
    prepared = Prepared(grade, events=[job.note] if job.note else [])
    try:
        submission = load_submission(job.student, job.path)
        grade.digest = submission.digest
        if submission.notebook is None:
            prepared.events.insert(0, f"not graded: {submission.problem}")
            return prepared
        result = grade_notebook(job.plan, submission.notebook, job.limits.sandbox(), isolated=job.isolated)
        prepared.notebook, prepared.events = result.notebook, prepared.events + result.events
        prepared.verdicts = {
            "verdicts": {g: {"passed": v.passed, "message": v.message} for g, v in result.verdicts.items()},
            "outputs": {str(i): o for i, o in result.outputs.items()}}
    except Exception as error:  # the grader's own failure stays in this row
        prepared.events.append(f"grading failed: {type(error).__name__}: {str(error)[:200]}")
    return prepared


def record_chunk(prepared: list[Prepared], template: Path, chapter: str, output_dir: Path,
                 work: Path) -> list[StudentGrade]:
    """nbgrader's part for a chunk of prepared submissions: ONE ``autograde`` (scores from the verdicts,
    in its gradebook) and ONE ``generate_feedback`` for all of them; returns their rows."""
    root = Path(shutil.copytree(template, work / "course"))
    verdicts = work / "verdicts"
    verdicts.mkdir()
    recorded = [p for p in prepared if p.notebook is not None]
    for item in recorded:
        target = root / "submitted" / item.grade.student / chapter / f"{chapter}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(item.notebook, target)
        (verdicts / f"{item.grade.student}.json").write_text(json.dumps(item.verdicts))
    if recorded:
        env = dict(os.environ, JUPYTER_PATH=str(root / "jupyter"), **{VERDICTS_VARIABLE: str(verdicts)})
        env["PATH"] = os.pathsep.join([str(Path(venv_command("nbgrader")).parent), env.get("PATH", "")])
        code, log = _run_nbgrader(root, ["autograde", chapter, "--force"], env, 120 + 20 * len(recorded))
        _, feedback_log = _run_nbgrader(root, ["generate_feedback", chapter, "--force"], env,
                                        120 + 20 * len(recorded))
        for item in recorded:
            student = item.grade.student
            try:
                scores = read_scores(root, chapter, student)
            except Exception:  # nbgrader recorded nothing for this student: it failed on the notebook
                last = (log.strip().splitlines() or ["no output"])[-1][:200]
                item.events.append("nbgrader failed: " + ("time limit" if code is None else last))
                continue
            item.grade.scores = {g: (None if c.needs_manual_grade else c.score) for g, c in scores.cells.items()}
            if not _collect(root, chapter, student, output_dir):
                item.events.append("feedback not written: "
                                   + (feedback_log.strip().splitlines() or ["no output"])[-1][:200])
    for item in prepared:
        item.grade.status = "; ".join(item.events) or "ok"
    return [item.grade for item in prepared]


def _grade_legacy(job: Job, notebook: nbformat.NotebookNode, grade: StudentGrade) -> list[str]:
    status_file = job.work / "status.json"
    budget = job.limits.notebook_timeout + 180 if job.limits.notebook_timeout else None
    scores, failure, _ = _nbgrader_round(job, notebook, {STATUS_VARIABLE: str(status_file)}, budget)
    events = json.loads(status_file.read_text())["events"] if status_file.is_file() else []
    if scores is not None:
        grade.scores = scores
    tampering = [f for cell in notebook.cells if cell.cell_type == "code"
                 and not cell.metadata.get("nbgrader", {}).get("grade") for f in find_tampering(cell.source)]
    return events + ([failure] if failure else []) + (
        [f"tampering suspected ({'; '.join(tampering)})"] if tampering else [])


def grade_legacy_one(job: Job) -> StudentGrade:
    """Grade one submission of a legacy chapter (its kernel decides); always a row, never an exception."""
    grade = StudentGrade(job.student, {grade_id: 0.0 for grade_id in job.cells}, entry=job.entry)
    events = [job.note] if job.note else []
    # The legacy kernel's Unix socket lives in the course copy: its path must stay under 108 bytes.
    short = Path(tempfile.mkdtemp(prefix="grade-"))
    job = replace(job, work=short / "w")
    try:
        submission = load_submission(job.student, job.path)
        grade.digest = submission.digest
        if submission.notebook is None:
            grade.status = "; ".join([f"not graded: {submission.problem}"] + events)
            return grade
        job.work.mkdir(mode=0o700, parents=True)
        events += _grade_legacy(job, submission.notebook, grade)
    except Exception as error:  # the grader's own failure stays in this row
        events.append(f"grading failed: {type(error).__name__}: {str(error)[:200]}")
    finally:
        shutil.rmtree(short, ignore_errors=True)
    grade.status = "; ".join(events) or "ok"
    return grade


def prepare_template(root: Path, chapter: str, solutions_dir: Path, limits: Limits, trusted: bool,
                     isolate_network: bool) -> Path:
    """A released course for ``chapter`` with the grader's pipeline; returns root."""
    config = feedback_config(write_feedback_template(root / "templates").parent)
    if trusted:
        config += trusted_config()
    else:
        config += legacy_config(limits.cell_timeout, limits.notebook_timeout, int(limits.max_output_mb * 1_000_000),
                                ipc=isolate_network)
    course = root / "course"
    make_course(course, solutions_dir, chapter, extra_config=config)
    if not trusted:
        write_legacy_kernelspec(course / "jupyter", limits.memory_mb, limits.file_mb, isolate_network)
    nbgrader(course, "generate_assignment", chapter, "--force", timeout=600)
    return course


def _load_rows(path: Path) -> dict[tuple[str, str], StudentGrade]:
    """Rows a previous run finished, by (entry, file hash); a damaged line is ignored."""
    rows = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                data = json.loads(line)
                rows[(data["entry"], data["digest"])] = StudentGrade(**data)
            except (ValueError, TypeError, KeyError):
                continue
    return rows


def grade_class(chapter: str, submissions_dir: Path, output_dir: Path, *, jobs: int = 1,
                limits: Limits = Limits(), solutions_dir: Path | None = None, progress=None,
                sandbox: bool = True, legacy_kernel: bool = False) -> list[StudentGrade]:
    """Grade every entry of ``submissions_dir`` for ``chapter``; write the reports to ``output_dir``.

    ``sandbox=False`` runs submissions without isolation (see :data:`NO_SANDBOX_RISK`);
    ``legacy_kernel=True`` allows the old, forgeable kernel path for chapters without checks.
    Raises :class:`GradingRefused` when neither is allowed and needed.
    """
    solutions_dir = Path(solutions_dir or find_course() / "solutions")
    course_root = solutions_dir.resolve().parent
    output_dir = Path(output_dir)
    cells = graded_cells(nbformat.read(solution_notebook(solutions_dir, chapter), as_version=4))
    found = find_submissions(Path(submissions_dir), chapter)
    output_dir.mkdir(parents=True, exist_ok=True)
    work = output_dir / ".work"
    shutil.rmtree(work, ignore_errors=True)  # a killed run's leftovers (the template holds hidden tests)
    work.mkdir(mode=0o700)
    started = time.monotonic()
    try:
        template = prepare_template(work / "template", chapter, solutions_dir, limits, trusted=True,
                                    isolate_network=False)
        release = nbformat.read(template / "release" / chapter / f"{chapter}.ipynb", as_version=4)
        plan = make_plan(chapter, release, course_root)
        isolated = sandbox
        if plan is None:
            if not legacy_kernel:
                raise GradingRefused(
                    f"chapter {chapter!r} has not moved to trusted checks yet (its test cells do not call "
                    "`check(...)`): its kernel would decide its own grades, which a submission can forge "
                    "(issue 13). `course grade --legacy-kernel` grades it the old way anyway.")
            isolated = limits.no_network and not network_isolation_problem()
            shutil.rmtree(work / "template")
            template = prepare_template(work / "template", chapter, solutions_dir, limits, trusted=False,
                                        isolate_network=isolated)
        elif sandbox:
            problem = probe(isolated=True)
            if problem:
                raise GradingRefused(f"no sandbox for the submissions' code on this machine: {problem}. Install "
                                     f"bubblewrap (`apt-get install bubblewrap`). {NO_SANDBOX_RISK}")
        rows_file = output_dir / "rows.jsonl"
        done = _load_rows(rows_file)
        ids = unique_ids(list(found))
        grades: dict[str, StudentGrade] = {}
        pending = []
        for entry, path in found.items():
            student, note = ids[entry]
            job = Job(chapter, entry, student, note, path, template, work / "students" / student, output_dir,
                      cells, limits, plan, isolated)
            digest = load_digest(path)
            previous = done.get((entry, digest)) if digest else None
            if previous is not None and previous.student == student:
                grades[entry] = previous
            else:
                pending.append(job)
        def finished(done: list[StudentGrade]) -> None:
            for grade in done:
                grades[grade.entry] = grade
                with rows_file.open("a") as handle:
                    handle.write(json.dumps(asdict(grade)) + "\n")
                if progress:
                    progress(grade)
            write_grades_csv(output_dir / "grades.csv", sorted(grades.values(), key=lambda g: g.student), cells)

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool, \
                tqdm(total=len(found), initial=len(grades), desc=f"grading {chapter}", unit="submission",
                     file=sys.stderr, disable=None) as bar:
            if plan is None:
                for future in as_completed([pool.submit(grade_legacy_one, job) for job in pending]):
                    finished([future.result()])
                    bar.update(1)
            # Trusted chapters: sandboxes run in parallel; nbgrader records a chunk at a time.
            size = max(4, 4 * jobs)
            for start in range(0, len(pending) if plan is not None else 0, size):
                prepared = []
                for future in as_completed([pool.submit(prepare_one, job) for job in pending[start:start + size]]):
                    prepared.append(future.result())
                    bar.update(1)
                finished(record_chunk(prepared, template, chapter, output_dir, work / f"chunk-{start}"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = sorted(grades.values(), key=lambda g: g.student)
    write_grades_csv(output_dir / "grades.csv", result, cells)
    mode = ("trusted checks, " + ("bubblewrap sandbox" if isolated else "NO sandbox")) if plan is not None \
        else "legacy kernel, network isolation " + ("on" if isolated else "OFF")
    (output_dir / "summary.txt").write_text(summarize(chapter, result, cells, mode, time.monotonic() - started, jobs))
    return result


def load_digest(path: Path | None) -> str:
    """The SHA-256 of a submission file ('' if it cannot be read), to know whether it was graded."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() if path is not None else ""
    except OSError:
        return ""


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


def summarize(chapter: str, grades: list[StudentGrade], cells: dict[str, float], mode: str,
              seconds: float, jobs: int) -> str:
    """A table for the terminal: one line per student, then the class mean."""
    maximum = sum(cells.values())
    width = max([len(g.student) for g in grades] + [7])
    lines = [f"{chapter}: {len(grades)} submissions graded in {seconds:.0f} s with {jobs} job(s); "
             f"{mode}",
             f"{'student':<{width}}  {'points':>12}  status"]
    for grade in grades:
        lines.append(f"{grade.student:<{width}}  {grade.total:>6g} / {maximum:<4g}  {grade.status}")
    if grades:
        lines.append(f"{'mean':<{width}}  {sum(g.total for g in grades) / len(grades):>6.2f} / {maximum:<4g}")
    return "\n".join(lines) + "\n"
