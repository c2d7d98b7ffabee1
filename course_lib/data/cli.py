"""``course data list`` and ``course data fetch NAME|all``: see and get the course's data sets.

Failures print one friendly line (what went wrong, what to do) and exit with status 1; no traceback.
"""

from __future__ import annotations

import argparse
import sys

from course_lib.data.download import REGISTRY, DownloadError, fetch, resolve_data_dir, status


def _human_size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def run_list(args: argparse.Namespace) -> int:
    """Print a table: each data set, present or missing, its size, whether its checksum matched."""
    print(f"data directory: {resolve_data_dir()}")
    rows = [("name", "status", "size", "checksum")]
    for name in REGISTRY:
        found = status(name)
        checksum = {True: "verified", False: f"WRONG ({found.problem})",
                    None: "not checked" if found.present else "-"}[found.verified]
        rows.append((name, "present" if found.present else "missing",
                     _human_size(found.size) if found.size else "-", checksum))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    """Download one data set (or all); report each, return 1 if any failed."""
    if args.name != "all" and args.name not in REGISTRY:
        print(f"error: there is no data set called {args.name!r}; choose one of "
              f"{', '.join(REGISTRY)} or all.", file=sys.stderr)
        return 1
    names = list(REGISTRY) if args.name == "all" else [args.name]
    failed = 0
    for name in names:
        try:
            folder = fetch(name, timeout=args.timeout)
        except (DownloadError, OSError) as error:
            print(f"error: {name}: {error}", file=sys.stderr)
            failed += 1
        else:
            print(f"{name}: ready in {folder}")
    return 1 if failed else 0


def add_parser(subparsers) -> None:
    """Register ``course data`` with its ``list`` and ``fetch`` sub-commands."""
    parser = subparsers.add_parser(
        "data", help="list and download the course's data sets",
        description="List the course's data sets or download them into the data directory "
        "(COURSE_DATA_DIR, else a per-user cache).",
    )

    def show_help(args: argparse.Namespace) -> int:  # `course data` alone
        parser.print_help()
        return 2

    parser.set_defaults(func=show_help)
    commands = parser.add_subparsers(title="data commands", metavar="COMMAND")

    list_parser = commands.add_parser(
        "list", help="show each data set: present or missing, size, checksum",
        description="Show each data set: present or missing, its size, whether its sha256 matched.")
    list_parser.set_defaults(func=run_list)

    fetch_parser = commands.add_parser(
        "fetch", help="download a data set (or all) and verify it",
        description="Download a data set from its canonical URL, verify its sha256 and put it in "
        "the data directory. Files already there and verified are kept.")
    fetch_parser.add_argument("name", help=f"one of {', '.join(REGISTRY)}, or all")
    fetch_parser.add_argument("--timeout", type=float, default=30.0,
                              help="seconds to wait for the server (default: 30)")
    fetch_parser.set_defaults(func=run_fetch)
