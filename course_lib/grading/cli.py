"""`course release`: regenerate the student notebooks from the instructor notebooks."""

from __future__ import annotations

import argparse

from course_lib.grading.course import NbgraderError
from course_lib.grading.release import release


def run_release(args: argparse.Namespace) -> int:
    chapters = None if args.all or not args.chapters else args.chapters
    try:
        differing = release(chapters, check_only=args.check)
    except (NbgraderError, FileNotFoundError) as error:
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
    parser.set_defaults(func=run_release)
