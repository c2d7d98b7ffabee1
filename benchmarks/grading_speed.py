"""How long `course grade` takes per submission for one chapter, with one job and with two.

Grades a class of N submissions of CHAPTER (half the instructor's solution, half the untouched
student notebook), once with --jobs 1 and once with --jobs 2, and prints seconds per submission,
the speed-up and the machine's load average (2 shared cores: the load says how much to trust a
figure). The toy chapter of the grader's tests is `--chapter toy`.

Run: python benchmarks/grading_speed.py --chapter params [--students 20] [--json out.json]
"""

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from course_lib.grading.grade import Limits, grade_class

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "grading" / "fixtures"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapter", default="params")
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    solutions = FIXTURES / "solutions" if args.chapter == "toy" else REPO / "solutions"
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        submitted = class_of(args.chapter, args.students, Path(tmp) / "submitted")
        times = {}
        for jobs in (1, 2):
            started = time.perf_counter()
            grades = grade_class(args.chapter, submitted, Path(tmp) / f"out{jobs}", jobs=jobs,
                                 limits=Limits(cell_timeout=120), solutions_dir=solutions)
            times[jobs] = time.perf_counter() - started
            assert len(grades) == args.students
        same = (Path(tmp) / "out1" / "grades.csv").read_bytes() == (Path(tmp) / "out2" / "grades.csv").read_bytes()
    load_after = os.getloadavg()
    print(f"{args.chapter}: {args.students} submissions, {os.cpu_count()} CPUs, load average (1, 5, 15 min) "
          f"before: {', '.join(f'{x:.1f}' for x in load_before)}; after: {', '.join(f'{x:.1f}' for x in load_after)}")
    for jobs, seconds in times.items():
        print(f"--jobs {jobs}: {seconds:6.1f} s  ({seconds / args.students:.1f} s per submission)")
    print(f"speed-up with 2 jobs: {times[1] / times[2]:.2f}x; identical grades.csv: {same}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "chapter": args.chapter, "students": args.students, "cpus": os.cpu_count(),
            "load_before": load_before, "load_after": load_after,
            "seconds_per_submission": {str(j): s / args.students for j, s in times.items()},
            "identical_grades_csv": same}, indent=1) + "\n")


if __name__ == "__main__":
    main()
