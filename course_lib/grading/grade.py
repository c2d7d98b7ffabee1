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
   ``summary.txt`` complete the output, with ``written/`` (written answers side by side and a
   scores CSV for people, :mod:`course_lib.grading.written`), ``similarity/`` (answers suspiciously
   alike, :mod:`course_lib.grading.similarity`) and, with an LMS, ``grades-<lms>.csv``
   (:mod:`course_lib.grading.lms`). A progress bar with an ETA shows the batch.

Throughput: nbgrader's part runs in ONE long-lived process per batch
(:mod:`course_lib.grading.recorder`), pipelined with the sandboxes: while it records one chunk,
the next submissions run. ``scheduler=`` sends the sandboxes to a Dask cluster
(:mod:`course_lib.grading.cluster`).

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
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import nbformat
from tqdm import tqdm

from course_lib.grading.autograde import read_scores
from course_lib.course_root import find_course
from course_lib.grading.cluster import SubmissionRunner, submission_runner
from course_lib.grading.course import (STATUS_VARIABLE, check_config_loaded, make_course, nbgrader,
                                       solution_notebook)
from course_lib.grading.integrity import find_tampering
from course_lib.grading.isolation import SandboxLimits, probe
from course_lib.grading.lms import DownloadView, LmsOptions, view_download, write_lms_grades
from course_lib.grading.pipeline import (feedback_config, legacy_config, trusted_config,
                                         write_legacy_kernelspec)
from course_lib.grading.recorder import Recorder, RecorderFailed
from course_lib.grading.similarity import write_report as write_similarity_report
from course_lib.grading.submissions import clean_id, find_submissions, load_submission, unique_ids
from course_lib.grading.tools import venv_command
from course_lib.grading.trusted import ChapterPlan, grade_notebook, make_plan
from course_lib.grading.verdicts import VERDICTS_VARIABLE, copy_mathjax, write_feedback_template
from course_lib.grading.written import BATCH_FILE, write_pages

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
    student_seconds: float = 0.0  # how long the student's own code ran (not in grades.csv)
    penalty_percent: float = 0.0  # late work: the total is reduced by this much

    @property
    def total(self) -> float:
        points = sum(score for score in self.scores.values() if score is not None)
        return round(points * (1 - self.penalty_percent / 100), 4) if self.penalty_percent else points


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
    content: bytes | None = None  # the file's bytes, read by the grader (a cluster's worker cannot see it)
    penalty_percent: float = 0.0  # late work (course_lib.grading.lms)


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


def collect_outputs(root: Path, chapter: str, student: str, output_dir: Path) -> bool:
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
    written = collect_outputs(root, job.chapter, job.student, job.output_dir)
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
    grade = StudentGrade(job.student, {grade_id: 0.0 for grade_id in job.cells}, entry=job.entry,
                         penalty_percent=job.penalty_percent)
    prepared = Prepared(grade, events=[job.note] if job.note else [])
    try:
        submission = load_submission(job.student, job.path, job.content)
        grade.digest = submission.digest
        if submission.notebook is None:
            prepared.events.insert(0, f"not graded: {submission.problem}")
            return prepared
        result = grade_notebook(job.plan, submission.notebook, job.limits.sandbox(), isolated=job.isolated)
        prepared.notebook, prepared.events = result.notebook, prepared.events + result.events
        grade.student_seconds = round(result.student_seconds, 3)
        prepared.verdicts = {
            "verdicts": {g: {"passed": v.passed, "message": v.message} for g, v in result.verdicts.items()},
            "outputs": {str(i): o for i, o in result.outputs.items()}}
    except Exception as error:  # the grader's own failure stays in this row
        prepared.events.append(f"grading failed: {type(error).__name__}: {str(error)[:200]}")
    return prepared


def record_chunk(prepared: list[Prepared], template: Path, chapter: str, output_dir: Path,
                 work: Path, recorder: Recorder) -> list[StudentGrade]:
    """nbgrader's part for a chunk of prepared submissions, in a copy of the template: the recorder's
    ONE autograde (scores from the verdicts, in its gradebook) and ONE generate_feedback for all of
    them; returns their rows."""
    try:
        _record(prepared, template, chapter, output_dir, work, recorder)
    except Exception as error:  # the grader's own failure (a full disk, ...): these rows say so, the batch goes on
        for item in prepared:
            if item.notebook is not None:
                item.events.append(f"grading failed: recording with nbgrader: {type(error).__name__}: {str(error)[:200]}")
    shutil.rmtree(work, ignore_errors=True)
    for item in prepared:
        item.grade.status = "; ".join(item.events) or "ok"
    return [item.grade for item in prepared]


def _record(prepared: list[Prepared], template: Path, chapter: str, output_dir: Path, work: Path,
            recorder: Recorder) -> None:
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
        try:
            reply = recorder.record(root, chapter, verdicts, timeout=120 + 20 * len(recorded))
        except RecorderFailed as error:
            reply = {"ok": False, "error": str(error)}
        scores = reply.get("scores", {}) if reply.get("ok") else {}
        log = reply.get("autograde_log", "") or reply.get("error", "") or reply.get("log", "")
        for item in recorded:
            student = item.grade.student
            if student not in scores:  # nbgrader recorded nothing for this student: it failed on the notebook
                item.events.append("nbgrader failed: " + (log.strip().splitlines() or ["no output"])[-1][:200])
                continue
            item.grade.scores = {g: (None if manual else score) for g, (score, manual) in scores[student].items()}
            if not collect_outputs(root, chapter, student, output_dir):
                item.events.append("feedback not written: "
                                   + (reply.get("feedback_log", "").strip().splitlines() or ["no output"])[-1][:200])


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
    grade = StudentGrade(job.student, {grade_id: 0.0 for grade_id in job.cells}, entry=job.entry,
                         penalty_percent=job.penalty_percent)
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
                     isolate_network: bool, recorder: Recorder | None = None) -> Path:
    """A released course for ``chapter`` with the grader's pipeline (released by ``recorder`` when
    given, else by the nbgrader command); returns root."""
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
    if recorder is not None:
        recorder.release(course, chapter)
    else:
        nbgrader(course, "generate_assignment", chapter, "--force", timeout=600)
    return course


def load_rows(path: Path) -> dict[tuple[str, str], StudentGrade]:
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
                sandbox: bool = True, legacy_kernel: bool = False, scheduler: str | None = None,
                lms: LmsOptions | None = None) -> list[StudentGrade]:
    """Grade every entry of ``submissions_dir`` for ``chapter``; write the reports to ``output_dir``.

    ``sandbox=False`` runs submissions without isolation (see :data:`NO_SANDBOX_RISK`);
    ``legacy_kernel=True`` allows the old, forgeable kernel path for chapters without checks;
    ``scheduler`` (a Dask scheduler's address) sends each submission's sandboxed run to that cluster
    (:mod:`course_lib.grading.cluster`) instead of ``jobs`` local threads; ``lms`` reads the
    folder as that LMS's download (ids, attempts, late penalties) and also writes the grades file it
    imports (:mod:`course_lib.grading.lms`).
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
    torch_threads = None  # this process's torch threads, put back when the batch ends
    try:
        with Recorder() as recorder:
            template = prepare_template(work / "template", chapter, solutions_dir, limits, trusted=True,
                                        isolate_network=False, recorder=recorder)
            release = nbformat.read(template / "release" / chapter / f"{chapter}.ipynb", as_version=4)
            (output_dir / BATCH_FILE).write_text(json.dumps(
                {"chapter": chapter, "solutions": str(solutions_dir.resolve()), "cells": cells}) + "\n")
            plan = make_plan(chapter, release, course_root)
            isolated = sandbox
            if plan is None:
                if not legacy_kernel:
                    raise GradingRefused(
                        f"chapter {chapter!r} has not moved to trusted checks yet (its test cells do not call "
                        "`check(...)`): its kernel would decide its own grades, which a submission can forge "
                        "(issue 13). `course grade --legacy-kernel` grades it the old way anyway.")
                if scheduler:
                    raise GradingRefused("`--scheduler` grades trusted chapters only: a legacy chapter's kernel "
                                         "runs inside nbgrader on this machine. Grade it without --scheduler.")
                isolated = limits.no_network and not network_isolation_problem()
                shutil.rmtree(work / "template")
                template = prepare_template(work / "template", chapter, solutions_dir, limits, trusted=False,
                                            isolate_network=isolated)
            else:
                # The checks compute expected values on small tensors, `jobs` at a time: one torch thread
                # each. A pool of threads per job only fights the sandboxes for the cores (tiny LSTMs
                # ran 20x slower).
                import torch

                torch_threads = torch.get_num_threads()
                torch.set_num_threads(1)
            if plan is not None and sandbox and not scheduler:  # a cluster's workers probe their own sandbox
                problem = probe(isolated=True)
                if problem:
                    raise GradingRefused(f"no sandbox for the submissions' code on this machine: {problem}. "
                                         f"Install bubblewrap (`apt-get install bubblewrap`). {NO_SANDBOX_RISK}")
            rows_file = output_dir / "rows.jsonl"
            done = load_rows(rows_file)
            view = view_download(lms, found, Path(submissions_dir)) if lms else DownloadView()
            graded = [e for e in found if e not in view.receipts and e not in view.superseded]
            ids = unique_ids(graded, view.ids)
            grades: dict[str, StudentGrade] = {}
            not_graded = []
            for entry, latest in view.superseded.items():
                not_graded.append(StudentGrade(
                    clean_id(f"{view.ids[entry]}-earlier-{load_digest(found[entry])[:6]}"), {g: 0.0 for g in cells},
                    f"not graded: an earlier attempt; the latest ({latest[:80]}) is graded", entry,
                    load_digest(found[entry])))
            for entry, receipt in view.without_notebook.items():
                not_graded.append(StudentGrade(
                    clean_id(receipt.username), {g: 0.0 for g in cells},
                    f"missing: Blackboard lists an attempt ({receipt.time}) but the download has no notebook "
                    "for it", entry, load_digest(Path(submissions_dir) / entry)))
            pending = []
            for entry in graded:
                path = found[entry]
                student, note = ids[entry]
                note = "; ".join(n for n in (note, view.notes.get(entry, "")) if n)
                job = Job(chapter, entry, student, note, path, template, work / "students" / student, output_dir,
                          cells, limits, plan, isolated, penalty_percent=view.penalties.get(entry, 0.0))
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

            finished([g for g in not_graded if (g.entry, g.digest) not in done])
            grades.update({g.entry: g for g in not_graded})
            with tqdm(total=len(found), initial=len(grades), desc=f"grading {chapter}", unit="submission",
                      file=sys.stderr, disable=None) as bar:
                if plan is None:
                    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                        for future in as_completed([pool.submit(grade_legacy_one, job) for job in pending]):
                            finished([future.result()])
                            bar.update(1)
                else:
                    with submission_runner(jobs, scheduler, require_sandbox=isolated) as runner:
                        _grade_trusted(pending, runner, recorder, template, chapter, output_dir, work,
                                       finished, bar.update)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if torch_threads is not None:
            import torch

            torch.set_num_threads(torch_threads)
    result = sorted(grades.values(), key=lambda g: g.student)
    write_grades_csv(output_dir / "grades.csv", result, cells)
    if lms:
        write_lms_file(lms, view, result, cells, output_dir)
    write_pages(output_dir, release)
    write_similarity_report(output_dir, release)
    mode = ("trusted checks, " + ("bubblewrap sandbox" if isolated else "NO sandbox")
            + (f", Dask cluster at {scheduler}" if scheduler else "")) if plan is not None \
        else "legacy kernel, network isolation " + ("on" if isolated else "OFF")
    (output_dir / "summary.txt").write_text(summarize(chapter, result, cells, mode, time.monotonic() - started, jobs))
    return result


MIN_CHUNK, MAX_CHUNK = 4, 32  # submissions nbgrader records at once (fewer only at the end of the batch)


def _grade_trusted(pending: list[Job], runner: SubmissionRunner, recorder: Recorder, template: Path, chapter: str,
                   output_dir: Path, work: Path, finished, advance) -> None:
    """Sandboxes (``runner``) and nbgrader (``recorder``) in a pipeline: while nbgrader records one
    chunk, the next submissions run; a chunk is whatever is ready when nbgrader is free (at least
    MIN_CHUNK unless the batch is ending), so rows are appended every few submissions."""
    running = {runner.submit(job): job for job in pending}
    ready: list[Prepared] = []
    recording: Future | None = None
    chunks = 0
    with ThreadPoolExecutor(max_workers=1) as scribe:
        while running or ready or recording:
            if recording is None and ready and (len(ready) >= MIN_CHUNK or not running):
                chunk, ready = ready[:MAX_CHUNK], ready[MAX_CHUNK:]
                recording = scribe.submit(record_chunk, chunk, template, chapter, output_dir,
                                          work / f"chunk-{chunks}", recorder)
                chunks += 1
            finished_now, _ = wait([*running, *([recording] if recording else [])], return_when=FIRST_COMPLETED)
            for future in finished_now:
                if future is recording:
                    finished(recording.result())
                    recording = None
                else:
                    ready.append(runner.result(future, running.pop(future)))
                    advance(1)


def write_lms_file(lms: LmsOptions, view: DownloadView, grades: list[StudentGrade], cells: dict[str, float],
                   output_dir: Path) -> Path:
    """``grades-<lms>.csv``: the latest attempt of every student the LMS named, in its import format."""
    rows = []
    for grade in grades:
        submission = view.submissions.get(grade.entry)
        if submission is None or grade.entry in view.superseded:
            continue
        pending = any(score is None for score in grade.scores.values())
        rows.append({"student_id": submission.student_id, "name": submission.name,
                     "total": grade.total, "comment": grade.status + ("; written answers still to be graded"
                                                                       if pending else "")})
    return write_lms_grades(lms.lms, output_dir / f"grades-{lms.lms}.csv", rows, lms.assignment or "grade",
                            sum(cells.values()), lms.column_id)


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
