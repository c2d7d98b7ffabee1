"""How long `course grade` takes for a class of 20, with one job and with two.

Grades 20 copies of the grader's toy chapter (half correct, half wrong) from
tests/grading/fixtures, once with --jobs 1 and once with --jobs 2, and prints the wall times and
the speed-up. Run: python benchmarks/grading_speed.py [--students 20]
"""

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from course_lib.grading.grade import Limits, grade_class

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "grading" / "fixtures"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        submitted = Path(tmp) / "submitted"
        for index in range(args.students):
            kind = "correct" if index % 2 == 0 else "wrong"
            shutil.copytree(FIXTURES / "submitted" / kind, submitted / f"student{index:02d}")
        times = {}
        for jobs in (1, 2):
            started = time.perf_counter()
            grades = grade_class("toy", submitted, Path(tmp) / f"out{jobs}", jobs=jobs, limits=Limits(cell_timeout=60),
                                 solutions_dir=FIXTURES / "solutions")
            times[jobs] = time.perf_counter() - started
            assert len(grades) == args.students
        same = (Path(tmp) / "out1" / "grades.csv").read_bytes() == (Path(tmp) / "out2" / "grades.csv").read_bytes()
    print(f"{args.students} submissions, {os.cpu_count()} CPUs, load average before: {load_before:.1f}, after: {os.getloadavg()[0]:.1f}")
    for jobs, seconds in times.items():
        print(f"--jobs {jobs}: {seconds:6.1f} s  ({seconds / args.students:.1f} s per submission)")
    print(f"speed-up with 2 jobs: {times[1] / times[2]:.2f}x; identical grades.csv: {same}")


if __name__ == "__main__":
    main()
