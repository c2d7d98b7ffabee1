"""``course publish DIR``: the student release, and the rules that say which file goes into it.

This repository is the instructor's: it holds the solutions, the hidden test cases and the
reference implementations. Students get a *student release*, a folder written by :func:`publish`
that the instructor commits to the release repository and tags once per term. Its book, launch
buttons, Colab install line and setup page point at that repository and tag, which the course
configures in ``pyproject.toml``::

    [tool.course.release]
    repository = "https://github.com/rnn-course/rnn-course-student"
    tag = "2026-fall"

Every file of the course is decided by :data:`RULES` (first match wins): shipped as it is, shipped
with its links retargeted at the release, replaced (the README), or withheld with the reason. A
file no rule matches stops the release, so a new kind of file is decided on purpose, never shipped
by default. A chapter ``_toc.yml`` does not list is withheld (its notebook folder, its page and its
results table): chapters are released in the toc's order, by appending each to it. As a last guard, a shipped file that holds one of nbgrader's solution or hidden-test
delimiters stops the release too.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import yaml

from course_lib.book import doc_name, toc_files
from course_lib.course_root import add_course_option, course_folder

#: Folders never looked into: build outputs, caches, environments, version control.
SKIPPED_FOLDERS = {".git", "_build", ".venv", "__pycache__", ".pytest_cache", ".ipynb_checkpoints",
                   ".jupyter_cache", ".device", ".course"}
SKIPPED_SUFFIXES = (".pyc", ".egg-info")

SHIP, RETARGET, STUDENT_README, WITHHOLD = "ship", "retarget", "student README", "withhold"


@dataclass(frozen=True)
class Rule:
    """Files matching ``pattern`` (a glob on the path relative to the course, ``**`` = any depth)
    get ``action``, for ``reason``."""

    pattern: str
    action: str
    reason: str

    def matches(self, path: str) -> bool:
        if self.pattern.endswith("/**"):
            return path.startswith(self.pattern[:-2])
        return fnmatch.fnmatchcase(path, self.pattern)


RULES: tuple[Rule, ...] = (
    # What would give answers away.
    Rule("solutions/**", WITHHOLD, "the instructor notebooks: every answer and the hidden tests"),
    Rule("grader/**", WITHHOLD, "the hidden cases and reference implementations of the checks"),
    Rule("results/**", WITHHOLD, "the executed solutions `course regenerate` writes"),
    Rule("tests/**", WITHHOLD, "the instructor's test suite: it reads solutions/ and crafts answers"),
    Rule("benchmarks/**", WITHHOLD, "timings of the instructor's machines; its scripts grade solutions"),
    Rule("nbgrader_config.py", WITHHOLD, "the grader's nbgrader settings"),
    Rule("conftest.py", WITHHOLD, "pytest settings of the instructor's test suite"),
    Rule(".ci/**", WITHHOLD, "the instructor repository's CI"),
    # What students use.
    Rule("README.md", STUDENT_README, "the instructor's README is replaced by one for students"),
    Rule("_config.yml", RETARGET, "the book's configuration; repository and launch buttons name the release"),
    Rule("_toc.yml", SHIP, "the book's table of contents (book pages and student notebooks only)"),
    Rule("book/*.md", RETARGET, "the book's pages; the setup page's install lines name the release"),
    Rule("book/**", SHIP, "the book's figures, images, bibliography and results tables"),
    Rule("_static/**", SHIP, "the book's own CSS (wide equations scroll in the column)"),
    Rule("notebooks/README.md", WITHHOLD, "the instructor's note on how notebooks/ is made from solutions/"),
    Rule("notebooks/**", SHIP, "the student notebooks (nbgrader's release: no answers, no hidden tests)"),
    Rule("course_lib/**", SHIP, "the library students import (the checks' student half only)"),
    Rule("pyproject.toml", SHIP, "installs course_lib (`pip install git+<release>@<tag>`)"),
    Rule("requirements.txt", SHIP, "the exact versions the course is tested with"),
    Rule(".gitignore", SHIP, "keeps build outputs out of the students' clones"),
)



def forbidden_markers() -> tuple[str, ...]:
    """nbgrader's solution and hidden-test delimiters (its defaults, which the course keeps): none may
    reach a student. Read from nbgrader, so that this file does not hold them itself."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    return (ClearSolutions.begin_solution_delimeter.default_value, ClearSolutions.end_solution_delimeter.default_value,
            ClearHiddenTests.begin_test_delimeter.default_value, ClearHiddenTests.end_test_delimeter.default_value)


class PublishError(RuntimeError):
    """The release could not be written; the message says which file and what to do."""


@dataclass(frozen=True)
class ReleaseTarget:
    """Where students get the course: the release repository's URL (no ``.git``) and this term's tag."""

    repository: str
    tag: str

    @property
    def install_source(self) -> str:
        """What ``pip install`` takes to install the release's ``course_lib``."""
        return f"git+{self.repository}.git@{self.tag}"


def release_target(course: Path) -> ReleaseTarget:
    """``[tool.course.release]`` of the course's ``pyproject.toml``."""
    path = Path(course) / "pyproject.toml"
    try:
        table = tomllib.loads(path.read_text())["tool"]["course"]["release"]
        target = ReleaseTarget(str(table["repository"]).rstrip("/").removesuffix(".git"), str(table["tag"]))
    except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError) as error:
        raise PublishError(f"{path} does not say where the student release lives ({error!r}): add\n"
                           "[tool.course.release]\nrepository = \"https://github.com/ORG/REPO\"\n"
                           "tag = \"TERM\"") from None
    if not target.repository or not target.tag:
        raise PublishError(f"{path}: [tool.course.release] needs a repository URL and a tag.")
    return target


def instructor_repository(course: Path) -> str:
    """``repository.url`` of the course's ``_config.yml`` (the instructor's repository), without ``.git``."""
    match = re.search(r"^repository:\s*\n(?:[ \t]+.*\n)*?[ \t]+url:\s*(\S+)", (Path(course) / "_config.yml").read_text(),
                      re.MULTILINE)
    if not match:
        raise PublishError(f"{course / '_config.yml'} has no repository url: add `repository: url: ...`.")
    return match.group(1).strip("'\"").rstrip("/").removesuffix(".git")


def retarget(text: str, instructor: str, target: ReleaseTarget) -> str:
    """Point the instructor repository's links at the release: clones and installs get the tag.

    ``git clone URL.git`` -> ``git clone --branch TAG RELEASE.git``; ``git+URL.git`` -> ``git+RELEASE.git@TAG``;
    any other mention of URL -> RELEASE; in ``_config.yml`` the repository's ``branch:`` -> the tag.
    """
    replacements = {f"git clone {instructor}.git": f"git clone --branch {target.tag} {target.repository}.git",
                    f"git+{instructor}.git": target.install_source, instructor: target.repository}
    # One pass, longest form first, and only whole URLs (not https://host/org/repo-other).
    pattern = "(" + "|".join(re.escape(form) for form in replacements) + r")(?![\w-])"
    text = re.sub(pattern, lambda match: replacements[match.group(1)], text)
    return re.sub(r"^(repository:\s*\n(?:[ \t]+.*\n)*?[ \t]+branch:)[ \t]*\S+", rf"\g<1> {target.tag}", text,
                  flags=re.MULTILINE)


def student_readme(target: ReleaseTarget) -> str:
    """The README of the student release."""
    folder = target.repository.rsplit("/", 1)[-1]
    return f"""# Recurrent Neural Networks, an open course (student release {target.tag})

The book, the assignments and the course's library, `course_lib`. Read the book online or build it here:

    git clone --branch {target.tag} {target.repository}.git && cd {folder}
    python3.11 -m venv .venv && . .venv/bin/activate && pip install -r requirements.txt
    jupyter-book build .        # the book, in _build/html/index.html

- `book/`: the lecture pages; `notebooks/<chapter>/<chapter>.ipynb`: the assignments. Open one with
  `jupyter lab`; on Google Colab the first cell installs `course_lib` by itself.
- Data sets download on first use, checked against their sha256; `course data fetch all` gets them
  ahead of time and `course data list` shows what is there (`COURSE_DATA_DIR` moves the folder).
- Before handing in: `course check notebooks/<chapter>/<chapter>.ipynb` runs your notebook from top
  to bottom and reports the visible tests.
"""


# --------------------------------------------------------------------------------------------- decide

def course_files(course: Path) -> list[str]:
    """Every file of the course as a relative POSIX path, sorted; build outputs and caches skipped.

    In a git repository: the tracked files and the untracked ones git does not ignore (what a
    commit would hold); elsewhere every file below ``course``.
    """
    if (course / ".git").exists():
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                                cwd=course, capture_output=True, check=True).stdout.decode()
        paths = [p for p in listed.split("\0") if p and (course / p).is_file()]
    else:
        paths = []
        for folder, subfolders, files in os.walk(course):
            subfolders[:] = sorted(d for d in subfolders if d not in SKIPPED_FOLDERS and not d.endswith(SKIPPED_SUFFIXES))
            paths += [Path(folder, f).relative_to(course).as_posix() for f in files]
    return sorted(p for p in paths if not set(Path(p).parts) & SKIPPED_FOLDERS and not p.endswith(SKIPPED_SUFFIXES))


def rule_for(path: str) -> Rule | None:
    """The first rule that matches ``path``, or None."""
    return next((rule for rule in RULES if rule.matches(path)), None)


def unlisted_chapters(course: Path) -> tuple[set[str], set[str]]:
    """The chapters whose assignment, and those whose lecture, ``_toc.yml`` does not list yet.

    A chapter is a folder ``notebooks/<ch>/`` holding ``<ch>.ipynb``. Its assignment is released when the
    toc lists ``notebooks/<ch>/<ch>``, its lecture when it lists ``book/<ch>``.
    """
    try:
        listed = {doc_name(file) for file in toc_files(yaml.safe_load((course / "_toc.yml").read_text()))}
    except (OSError, KeyError, TypeError, AttributeError, yaml.YAMLError) as error:
        raise PublishError(f"{course / '_toc.yml'} cannot be read as a table of contents ({error!r}): it says "
                           "which chapters are released.") from None
    chapters = sorted(p.parent.name for p in (course / "notebooks").glob("*/*.ipynb") if p.stem == p.parent.name)
    return ({ch for ch in chapters if f"notebooks/{ch}/{ch}" not in listed},
            {ch for ch in chapters if f"book/{ch}" not in listed})


def unlisted_chapter_rules(course: Path) -> tuple[Rule, ...]:
    """Rules withholding what belongs to a chapter ``_toc.yml`` does not list yet: an instructor releases
    chapters in order by appending them to the toc, and a chapter not released yet gives nothing away
    (word_lm's notebook, for one, gives the model char_lm asks students to write)."""
    assignments, lectures = unlisted_chapters(course)
    why = "chapter {ch} is not in _toc.yml yet: a chapter is released by appending it to the toc"
    rules = [Rule(f"notebooks/{ch}/**", WITHHOLD, why.format(ch=ch)) for ch in sorted(assignments)]
    for ch in sorted(lectures):
        rules += [Rule(f"book/{ch}.md", WITHHOLD, why.format(ch=ch)),
                  Rule(f"book/results/{ch}.md", WITHHOLD, why.format(ch=ch))]
    return tuple(rules)


def unlink_unreleased(text: str, chapters: set[str]) -> str:
    """A page's ``{doc}`` links to chapters not released yet, as plain text ("word_lm (not released
    yet)"): the book builds with warnings as errors, and a link to a withheld page is one."""
    def plain(match: re.Match) -> str:
        target = match.group(2).strip()
        chapter = target.rsplit("/", 1)[-1]
        if chapter not in chapters or not (target == chapter or target.endswith(f"notebooks/{chapter}/{chapter}")):
            return match.group(0)
        return f"{(match.group(1) or chapter).strip()} (not released yet)"

    return re.sub(r"\{doc\}`(?:([^`<]*?)\s*<)?([^`>]+)>?`", plain, text)


def decide(course: Path) -> dict[str, Rule]:
    """Each course file and the rule that decides it; PublishError naming every undecided file.

    The rules for chapters the toc does not list (:func:`unlisted_chapter_rules`) come before
    :data:`RULES`."""
    chapter_rules = unlisted_chapter_rules(course)
    decided, undecided = {}, []
    for path in course_files(course):
        rule = next((rule for rule in chapter_rules if rule.matches(path)), None) or rule_for(path)
        if rule is None:
            undecided.append(path)
        else:
            decided[path] = rule
    if undecided:
        raise PublishError(f"no publishing rule decides {', '.join(undecided)}: add a rule to RULES in "
                           f"{Path(__file__).name} (ship or withhold, with the reason), or delete the file.")
    return decided


# --------------------------------------------------------------------------------------------- write

def _forbidden_marker(data: bytes, markers: tuple[str, ...]) -> str | None:
    return next((marker for marker in markers if marker.encode() in data), None)


def publish(course: Path, destination: Path) -> dict[str, Rule]:
    """Write the student release of ``course`` into ``destination`` (empty or absent); return the
    shipped files and their rules."""
    course, destination = Path(course).resolve(), Path(destination).resolve()
    if destination == course or course in destination.parents:
        raise PublishError(f"{destination} is inside the course {course}: publish to a folder outside it.")
    if destination.exists() and any(destination.iterdir()):
        raise PublishError(f"{destination} is not empty: publish into a new or empty folder (the release "
                           "repository's checkout, emptied apart from .git, works too).")
    target, instructor = release_target(course), instructor_repository(course)
    shipped = {path: rule for path, rule in decide(course).items() if rule.action != WITHHOLD}
    unreleased = set().union(*unlisted_chapters(course))
    written: dict[str, bytes] = {}
    markers = forbidden_markers()
    for path, rule in shipped.items():
        data = (course / path).read_bytes()
        if rule.action == RETARGET:
            text = retarget(data.decode("utf-8"), instructor, target)
            if path.startswith("book/"):
                text = unlink_unreleased(text, unreleased)
            data = text.encode("utf-8")
        elif rule.action == STUDENT_README:
            data = student_readme(target).encode("utf-8")
        marker = _forbidden_marker(data, markers)
        if marker:
            raise PublishError(f"{path} holds nbgrader's {marker!r} delimiter: a solution or hidden test would "
                               "reach students. Nothing was written.")
        written[path] = data
    for path, data in written.items():
        (destination / path).parent.mkdir(parents=True, exist_ok=True)
        (destination / path).write_bytes(data)
        shutil.copymode(course / path, destination / path)
    return shipped


# --------------------------------------------------------------------------------------------- command

def run_publish(args: argparse.Namespace) -> int:
    try:
        course = course_folder(args.course)
        shipped = publish(course, Path(args.destination))
    except (PublishError, FileNotFoundError) as error:
        print(f"course publish: {error}", file=sys.stderr)
        return 1
    target = release_target(course)
    size = sum((Path(args.destination) / path).stat().st_size for path in shipped)
    print(f"course publish: wrote the student release of {course} to {args.destination} "
          f"({len(shipped)} files, {size:,} bytes).\nCommit it to {target.repository} and tag it "
          f"`{target.tag}`: the book, its launch buttons and the notebooks' install cell point there.")
    return 0


def add_parser(subparsers) -> None:
    """Register ``course publish``."""
    parser = subparsers.add_parser(
        "publish", help="write the student release (no solutions, no hidden tests) into a folder",
        description="Write the student-facing course into DIR: the book, the student notebooks and the "
        "library, with links pointing at the release repository and tag of [tool.course.release] in "
        "pyproject.toml. Solutions, hidden cases, grader files and executed solutions are withheld; "
        "the rules are in course_lib/publish.py.")
    parser.add_argument("destination", metavar="DIR", help="a new or empty folder")
    add_course_option(parser)
    parser.set_defaults(func=run_publish)
