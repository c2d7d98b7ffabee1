"""`course release` (student notebooks from the instructor notebooks) and `course grade` (a class)."""

from __future__ import annotations

import argparse
from pathlib import Path

from course_lib.course_root import add_course_option, course_folder
from course_lib.grading.course import NbgraderError
from course_lib.grading.grade import GradingRefused, Limits, grade_class
from course_lib.grading.release import release
from course_lib.publish import PublishError


def run_release(args: argparse.Namespace) -> int:
    chapters = None if args.all or not args.chapters else args.chapters
    try:
        differing = release(chapters, repo=course_folder(args.course), check_only=args.check)
    except (NbgraderError, FileNotFoundError, PublishError) as error:
        print(f"course release: {error}")
        return 1
    if args.check:
        if differing:
            print(f"notebooks/ is stale for: {', '.join(differing)}. Run `course release` and commit the result.")
            return 1
        print("notebooks/ is up to date with solutions/.")
        return 0
    print(f"regenerated: {', '.join(differing)}" if differing else "nothing to do: notebooks/ was up to date.")
    return 0


def run_grade(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    limits = Limits(cell_timeout=args.timeout, notebook_timeout=args.notebook_timeout, memory_mb=args.memory,
                    max_output_mb=args.max_output, no_network=not args.allow_network, scratch_mb=args.scratch)
    output = Path(args.output or Path(args.submissions).resolve().parent / f"grades-{args.chapter}")
    try:
        solutions = Path(args.solutions) if args.solutions else course_folder(args.course) / "solutions"
        grades = grade_class(args.chapter, Path(args.submissions), output, jobs=args.jobs, limits=limits,
                             solutions_dir=solutions, sandbox=not args.no_sandbox,
                             legacy_kernel=args.legacy_kernel,
                             progress=lambda g: tqdm.write(f"  graded {g.student}: {g.total:g} points ({g.status})"))
    except (NbgraderError, FileNotFoundError, GradingRefused) as error:
        print(f"course grade: {error}")
        return 1
    print((output / "summary.txt").read_text(), end="")
    print(f"wrote {output / 'grades.csv'}, {output / 'feedback'}/<student>.html and {output / 'autograded'}/")
    return 0 if grades else 1


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "release", help="regenerate notebooks/ from solutions/ with nbgrader",
        description="Make the student notebooks (notebooks/<chapter>/) from the instructor notebooks "
        "(solutions/<chapter>/) with `nbgrader generate_assignment`, normalised so that a re-run "
        "writes identical files.",
    )
    parser.add_argument("chapters", nargs="*", metavar="CHAPTER", help="chapters to release (default: all)")
    parser.add_argument("--all", action="store_true", help="release every chapter (the default)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if notebooks/ differs from a fresh release")
    add_course_option(parser)
    parser.set_defaults(func=run_release)

    grade = subparsers.add_parser(
        "grade", help="autograde a class's submissions of one chapter",
        description="Autograde every submission of CHAPTER in SUBMISSIONS_DIR: each notebook runs in a "
        "bubblewrap sandbox within time, memory and output limits, the grader checks what its functions "
        "return against the chapter's checks (visible and hidden cases), and nbgrader records the scores; "
        "writes grades.csv, one HTML feedback file per student (hidden cases not revealed) and a summary. "
        "A re-run skips submissions graded already. SUBMISSIONS_DIR is nbgrader's submitted/ layout "
        "(<student>/<chapter>/*.ipynb) or a flat folder of <student>.ipynb files.",
    )
    grade.add_argument("chapter", metavar="CHAPTER")
    grade.add_argument("submissions", metavar="SUBMISSIONS_DIR")
    grade.add_argument("--output", metavar="DIR", help="where reports go (default: grades-CHAPTER beside "
                       "SUBMISSIONS_DIR)")
    grade.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel (default 1)")
    grade.add_argument("--timeout", type=int, default=Limits.cell_timeout, metavar="S",
                       help=f"seconds per cell (default {Limits.cell_timeout})")
    grade.add_argument("--notebook-timeout", type=int, default=Limits.notebook_timeout, metavar="S",
                       help=f"seconds per notebook (default {Limits.notebook_timeout})")
    grade.add_argument("--memory", type=int, default=Limits.memory_mb, metavar="MB",
                       help=f"memory cap of a student's kernel (default {Limits.memory_mb})")
    grade.add_argument("--max-output", type=float, default=Limits.max_output_mb, metavar="MB",
                       help=f"output kept per notebook (default {Limits.max_output_mb})")
    grade.add_argument("--solutions", metavar="DIR", help="instructor notebooks (default: the course's solutions/)")
    grade.add_argument("--scratch", type=int, default=Limits.scratch_mb, metavar="MB",
                       help=f"size of the sandbox's private scratch folder (default {Limits.scratch_mb})")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="run submissions WITHOUT isolation (no bubblewrap): their code runs as you, sees and "
                       "can change your files and reach the network; only for notebooks you trust")
    grade.add_argument("--legacy-kernel", action="store_true",
                       help="grade a chapter not yet moved to trusted checks the old way: its kernel decides "
                       "pass or fail, which a submission can forge")
    grade.add_argument("--allow-network", action="store_true",
                       help="legacy kernel path only: do not cut the kernel off the network")
    add_course_option(grade)
    grade.set_defaults(func=run_grade)
