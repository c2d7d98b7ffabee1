"""The ``course`` command: one entry point for students, instructors and CI.

Each sub-command lives in the module that owns its subject and registers itself here through an
``add_parser(subparsers)`` function that sets ``func`` (the handler, returning an exit code).
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata

from course_lib import __version__, config
from course_lib.grading.cli import add_parser as _add_release_parser
from course_lib.data.cli import add_parser as _add_data_parser
from course_lib.book import add_parser as _add_build_parser
from course_lib.check import add_parser as _add_check_parser
from course_lib.publish import add_parser as _add_publish_parser
from course_lib.regenerate import add_parser as _add_regenerate_parser


def _version_of(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _describe_device() -> str:
    import torch  # here, not at the top: `course --help` should not wait for torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def run_info(args: argparse.Namespace) -> int:
    """Print what a bug report needs: versions, device, profile, data directory."""
    try:
        active_profile = config.profile()
    except config.ProfileError as error:
        active_profile = f"INVALID: {error}"
    data_dir = config.data_dir()
    rows = [
        ("course_lib", __version__),
        ("python", sys.version.split()[0]),
        ("torch", _version_of("torch")),
        ("jupyter-book", _version_of("jupyter-book")),
        ("nbgrader", _version_of("nbgrader")),
        ("nbval", _version_of("nbval")),
        ("device", _describe_device()),
        ("profile", active_profile),
        ("data directory", f"{data_dir} ({'exists' if data_dir.is_dir() else 'missing'})"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0


def _add_info_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "info", help="print versions, device, profile and data directory",
        description="Print the versions of the course's tools, the device, the active "
        "COURSE_PROFILE and the data directory (paste this into a bug report).",
    )
    parser.set_defaults(func=run_info)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="course",
        description="The RNN course's command: inspect the setup, manage data, build and grade.",
    )
    parser.add_argument("--version", action="version", version=f"course_lib {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_info_parser(subparsers)
    _add_release_parser(subparsers)
    _add_data_parser(subparsers)
    _add_build_parser(subparsers)
    _add_regenerate_parser(subparsers)
    _add_publish_parser(subparsers)
    _add_check_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
