"""`course release` (student notebooks from the instructor notebooks) and `course grade` (a class)."""

from __future__ import annotations

import argparse
from pathlib import Path

from course_lib.course_root import add_course_option, course_folder
from course_lib.grading.cluster import ClusterUnavailable
from course_lib.grading.course import NbgraderError
from course_lib.grading.grade import GradingRefused, Limits, grade_class
from course_lib.grading.lms import (LMS_NAMES, LatePolicy, LmsError, LmsOptions, parse_penalty, parse_time,
                                    read_moodle_worksheet_times, read_times, timezone_named)
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
        lms = lms_options(args)
        solutions = Path(args.solutions) if args.solutions else course_folder(args.course) / "solutions"
        grades = grade_class(args.chapter, Path(args.submissions), output, jobs=args.jobs, limits=limits,
                             solutions_dir=solutions, sandbox=not args.no_sandbox,
                             legacy_kernel=args.legacy_kernel, scheduler=args.scheduler, lms=lms,
                             progress=lambda g: tqdm.write(f"  graded {g.student}: {g.total:g} points ({g.status})"))
    except (NbgraderError, FileNotFoundError, GradingRefused, ClusterUnavailable, LmsError) as error:
        print(f"course grade: {error}")
        return 1
    print((output / "summary.txt").read_text(), end="")
    print(f"wrote {output / 'grades.csv'}, {output / 'feedback'}/<student>.html and {output / 'autograded'}/"
          + (f"; for {args.lms.capitalize()}: {output / f'grades-{args.lms}.csv'}" if args.lms else ""))
    return 0 if grades else 1


def lms_options(args: argparse.Namespace) -> LmsOptions | None:
    """The LMS options of ``course grade``, checked (an LmsError says which is wrong)."""
    late = [args.deadline, args.extensions, args.late_penalty, args.submission_times, args.moodle_worksheet]
    if not args.lms:
        if any(late):
            raise LmsError("--deadline, --extensions, --late-penalty, --submission-times and --moodle-worksheet "
                           "need --lms (canvas, moodle or blackboard): they read the LMS's download names")
        return None
    tz = timezone_named(args.lms_timezone)
    policy = None
    if args.deadline:
        per_day, cap = parse_penalty(args.late_penalty or "10")
        extensions = read_times(args.extensions, tz, "student", "deadline") if args.extensions else {}
        policy = LatePolicy(parse_time(args.deadline, tz), per_day, cap, args.grace, extensions)
    elif args.extensions or args.late_penalty:
        raise LmsError("--extensions and --late-penalty need --deadline")
    times = read_times(args.submission_times, tz) if args.submission_times else {}
    if args.moodle_worksheet:
        times = {**read_moodle_worksheet_times(args.moodle_worksheet, tz), **times}
    return LmsOptions(args.lms, tz, policy, times, args.lms_assignment or args.chapter, args.lms_column_id or "")


def run_grade_written(args: argparse.Namespace) -> int:
    from course_lib.grading.written import WrittenError, merge

    try:
        if args.action == "formgrader":
            if not args.target:
                print("course grade-written formgrader: name the folder to make the course in")
                return 1
            merge(Path(args.output), keep_course=Path(args.target))
            print(f"an nbgrader course with every student's notebook is in {args.target} (it holds the chapter's "
                  "source, hidden tests included: keep it to yourself). Grade the written answers there with "
                  f"`cd {args.target} && jupyter lab` (Nbgrader > Formgrader > Manual Grading), then run "
                  f"`course grade-written merge {args.output} --gradebook {Path(args.target) / 'gradebook.db'}`.")
            return 0
        if bool(args.target) == bool(args.gradebook):
            print("course grade-written merge: give the scores CSV or --gradebook (not both)")
            return 1
        changed = merge(Path(args.output), Path(args.target) if args.target else None,
                        Path(args.gradebook) if args.gradebook else None)
    except (WrittenError, NbgraderError, LmsError) as error:
        print(f"course grade-written: {error}")
        return 1
    print(f"updated {len(changed)} student(s) in {Path(args.output) / 'grades.csv'} and their feedback pages"
          + (f": {', '.join(changed[:20])}" if changed else " (no graded rows in the file)"))
    return 0


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
    grade.add_argument("--scheduler", metavar="ADDRESS",
                       help="run each submission's sandbox on the workers of this Dask cluster (e.g. "
                       "tcp://10.0.0.5:8786; workers need bubblewrap and this course's environment); nbgrader's "
                       "part stays here. Without it, grading is local (--jobs)")
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
    lms = grade.add_argument_group("LMS downloads and late work (see course_lib/grading/lms.py)")
    lms.add_argument("--lms", choices=LMS_NAMES, help="SUBMISSIONS_DIR is this LMS's bulk download: read its file "
                     "names (student id, name, time) and also write grades-<lms>.csv for its import")
    lms.add_argument("--lms-assignment", metavar="NAME", help="the assignment's (column's) name in the LMS "
                     "(default: CHAPTER)")
    lms.add_argument("--lms-column-id", metavar="ID", help="Canvas's assignment id or Blackboard's column id")
    lms.add_argument("--lms-timezone", default="UTC", metavar="ZONE",
                     help="the zone of times without one (Blackboard's names, the CSVs; default UTC)")
    lms.add_argument("--deadline", metavar="TIME", help="ISO 8601, e.g. 2026-11-20T23:59+01:00")
    lms.add_argument("--late-penalty", metavar="PCT[,cap=PCT]",
                     help="percent off per started day late, and its cap (default 10, cap 100)")
    lms.add_argument("--grace", type=float, default=0.0, metavar="MIN", help="minutes late without penalty")
    lms.add_argument("--extensions", metavar="CSV", help="per-student deadlines: columns student,deadline")
    lms.add_argument("--submission-times", metavar="CSV",
                     help="submission times where the names carry none (Canvas, Moodle): columns student,submitted")
    lms.add_argument("--moodle-worksheet", metavar="CSV",
                     help="Moodle's grading worksheet: its 'Last modified (submission)' gives the times")
    grade.set_defaults(func=run_grade)

    written = subparsers.add_parser(
        "grade-written", help="merge people's points for written answers into a graded batch",
        description="`course grade` writes OUTPUT/written/<question>.html (every answer side by side) and "
        "OUTPUT/written/scores.csv. `merge OUTPUT CSV` puts the points and comments filled in there into "
        "grades.csv and regenerates the students' feedback; `formgrader OUTPUT DIR` makes an nbgrader course in "
        "DIR for grading them in nbgrader's formgrader instead, and `merge OUTPUT --gradebook DIR/gradebook.db` "
        "takes the points from it.")
    written.add_argument("action", choices=["merge", "formgrader"])
    written.add_argument("output", metavar="OUTPUT", help="the --output folder of `course grade`")
    written.add_argument("target", nargs="?", metavar="CSV|DIR",
                         help="merge: the filled-in scores.csv; formgrader: the folder to make the course in")
    written.add_argument("--gradebook", metavar="DB", help="merge: take the points from this formgrader gradebook")
    written.set_defaults(func=run_grade_written)
