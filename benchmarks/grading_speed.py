"""Seconds per submission of `course grade`, at --jobs 1 and --jobs 2, and how much of it is overhead.

Grades a class of N submissions of CHAPTER (half the instructor's solution, half the untouched
student notebook) with --jobs 1 and with --jobs 2, each run in a fresh Python process (as `course
grade` runs), and reports for each:

* seconds per submission (wall clock of the whole run, template and nbgrader included, / N);
* the student's own code: seconds their answer cells and their functions answering the checks ran
  (measured by the grader, `student_seconds` in rows.jsonl), per submission;
* overhead = the two differences: everything grading costs beyond the student's own code.

``--baseline REF`` grades the same class with the grading code of git ref REF (its course_lib,
from `git archive`), interleaved with the current code (REF j1, current j1, REF j2, current j2), so
that "before" and "after" see the same load on a shared machine; ``--repeat K`` runs each K times
and reports medians. The load average (2 shared cores: it says how far to trust a figure), the
machine and the git commit go into the JSON.

Run: python benchmarks/grading_speed.py --chapter params --students 20 --baseline HEAD~3 --json out.json
The toy chapter of the grader's tests is `--chapter toy`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "grading" / "fixtures"

# What one measured run does, in a fresh interpreter whose PYTHONPATH is the code under test.
RUN = """
import json, sys, time
from pathlib import Path
from course_lib.grading.grade import Limits, grade_class
chapter, submitted, output, jobs, solutions = sys.argv[1:6]
started = time.perf_counter()
grades = grade_class(chapter, Path(submitted), Path(output), jobs=int(jobs), limits=Limits(cell_timeout=120),
                     solutions_dir=Path(solutions))
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "rows": len(grades),
                  "student_seconds": sum(getattr(g, "student_seconds", 0.0) for g in grades),
                  "statuses": sorted({g.status for g in grades})}))
"""


def class_of(chapter: str, students: int, folder: Path) -> Path:
    """A submitted/ folder of `students` notebooks: solution and blank (or the toy's correct and wrong)."""
    if chapter == "toy":
        kinds = [FIXTURES / "submitted" / k / "toy" / "toy.ipynb" for k in ("correct", "wrong")]
    else:
        kinds = [REPO / "solutions" / chapter / f"{chapter}.ipynb", REPO / "notebooks" / chapter / f"{chapter}.ipynb"]
    for index in range(students):
        target = folder / f"student{index:02d}" / chapter / f"{chapter}.ipynb"
        target.parent.mkdir(parents=True)
        shutil.copyfile(kinds[index % 2], target)
    return folder


def code_tree(ref: str | None, folder: Path) -> Path:
    """The repository's code at ``ref`` (a `git archive` of course_lib) or the working tree (None)."""
    if ref is None:
        return REPO
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", ref, "course_lib"], cwd=REPO, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def measure(tree: Path, chapter: str, submitted: Path, output: Path, jobs: int, solutions: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    done = subprocess.run([sys.executable, "-c", RUN, chapter, str(submitted), str(output), str(jobs), str(solutions)],
                          capture_output=True, text=True, env=env, cwd=tree)
    if done.returncode != 0:
        raise RuntimeError(f"grading with {tree} failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["grades_csv"] = (output / "grades.csv").read_text()
    return figures


def git_commit(ref: str = "HEAD") -> str:
    return subprocess.run(["git", "rev-parse", ref], cwd=REPO, capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapter", default="params")
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--baseline", metavar="REF", help="also time the grading code of this git ref")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each configuration (medians reported)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    solutions = FIXTURES / "solutions" if args.chapter == "toy" else REPO / "solutions"
    load_before = os.getloadavg()
    versions = ([("before", args.baseline)] if args.baseline else []) + [("after", None)]
    runs: dict[str, dict[int, list[dict]]] = {name: {j: [] for j in args.jobs} for name, _ in versions}
    with tempfile.TemporaryDirectory() as tmp:
        submitted = class_of(args.chapter, args.students, Path(tmp) / "submitted")
        trees = {name: code_tree(ref, Path(tmp) / f"code-{name}") for name, ref in versions}
        for attempt in range(args.repeat):
            for jobs in args.jobs:
                for name, _ in versions:
                    output = Path(tmp) / f"out-{name}-{jobs}-{attempt}"
                    runs[name][jobs].append(measure(trees[name], args.chapter, submitted, output, jobs, solutions))
                    print(f"{name} --jobs {jobs}: {runs[name][jobs][-1]['seconds']:.1f} s", file=sys.stderr)
    load_after = os.getloadavg()
    csvs = {r["grades_csv"] for per_jobs in runs.values() for rs in per_jobs.values() for r in rs}
    report = {"chapter": args.chapter, "students": args.students, "cpus": os.cpu_count(),
              "machine": f"{platform.node()} {platform.machine()} {platform.processor() or ''}".strip(),
              "python": platform.python_version(), "commit": git_commit(),
              "baseline": {"ref": args.baseline, "commit": git_commit(args.baseline)} if args.baseline else None,
              "load_before": load_before, "load_after": load_after, "repeat": args.repeat,
              "identical_grades_csv": len(csvs) == 1, "results": {}}
    print(f"{args.chapter}: {args.students} submissions, {os.cpu_count()} CPUs, load average (1, 5, 15 min) "
          f"before: {', '.join(f'{x:.1f}' for x in load_before)}; after: {', '.join(f'{x:.1f}' for x in load_after)}")
    for name, per_jobs in runs.items():
        report["results"][name] = {}
        for jobs, measured in per_jobs.items():
            per_submission = statistics.median(r["seconds"] for r in measured) / args.students
            own = statistics.median(r["student_seconds"] for r in measured) / args.students
            report["results"][name][str(jobs)] = {
                "seconds_per_submission": round(per_submission, 3),
                "student_code_seconds_per_submission": round(own, 3) if name == "after" else None,
                "overhead_seconds_per_submission": round(per_submission - own, 3) if name == "after" else None,
                "all_seconds": [round(r["seconds"], 2) for r in measured], "statuses": measured[-1]["statuses"]}
            extra = f"; student's own code {own:.2f} s, overhead {per_submission - own:.2f} s" if name == "after" else ""
            print(f"{name:>6} --jobs {jobs}: {per_submission:5.2f} s per submission{extra}")
    print(f"identical grades.csv in every run: {report['identical_grades_csv']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
