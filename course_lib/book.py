"""The course's book: ``course build [--edition student|instructor]``, and a Sphinx extension.

Both editions come from the one ``_config.yml`` and the one ``_toc.yml`` at the repository root:

* **student** -- the ``book/`` pages and each chapter's student notebook (``notebooks/<ch>/<ch>``),
  which is published unexecuted, with launch (Binder, Colab, JupyterHub) and download buttons.
  Written to ``_build/html``.
* **instructor** -- the same, plus each chapter's solution notebook right after the student
  notebook: the one ``course regenerate`` executed under the active ``COURSE_PROFILE``
  (``results/<profile>/<ch>/<ch>``, shown as it is) when there is one, else ``solutions/<ch>/<ch>``
  executed by the build. Its table of
  contents is *derived* from ``_toc.yml`` (:func:`instructor_toc`), never kept by hand. Written to
  ``_build/instructor/_build/html``.

Code cells of book pages run under the active profile (``smoke`` in CI) through jupyter-cache, one
cache per profile, so an unchanged page is not run again and a ``cpu`` build never reuses ``smoke``
outputs. Builds treat warnings as errors, and a failing cell fails the build.

As a Sphinx extension (listed in ``_config.yml``), this module adds one setting,
``course_mathjax``: ``local`` serves the MathJax 3 copy shipped by the ``django-static-mathjax``
package from ``_static/mathjax/`` (the book then renders math offline, and the browser test needs
no network); ``cdn`` leaves Sphinx's default, MathJax from jsDelivr. It also removes repeated
``<script>`` declarations from pages (see :func:`_drop_repeated_scripts`).

This module keeps its imports light: Sphinx imports it for every build.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from course_lib.course_root import add_course_option, find_course

EDITIONS = ("student", "instructor")
MATHJAX_MODES = ("local", "cdn")
#: Where ``mathjax_path`` points (relative to ``_static``) when MathJax is served locally.
LOCAL_MATHJAX_SCRIPT = "mathjax/tex-mml-chtml.js"
#: Student notebooks are exercises: never executed. Patterns match the end of a path.
STUDENT_NOTEBOOKS = "notebooks/*/*.ipynb"
SOLUTION_NOTEBOOKS = "solutions/*/*.ipynb"
#: ``course regenerate`` writes executed solutions to results/<profile>/<ch>/<ch>.ipynb: never re-run.
REGENERATED_FOLDER = "results"
REGENERATED_NOTEBOOKS = f"{REGENERATED_FOLDER}/*/*/*.ipynb"


class BookError(Exception):
    """The book cannot be built as asked (a missing file, a bad setting); the message says why."""


# --------------------------------------------------------------------------------------------
# The table of contents


def _entry_lists(toc: dict) -> Iterator[list]:
    """Every list of entries in a jb-book toc: top-level chapters, each part's, nested sections."""
    pending = []
    if "chapters" in toc:
        pending.append(toc["chapters"])
    pending += [part["chapters"] for part in toc.get("parts", []) if "chapters" in part]
    while pending:
        entries = pending.pop(0)
        yield entries
        pending += [entry["sections"] for entry in entries if isinstance(entry, dict) and "sections" in entry]


def doc_name(name: str) -> str:
    """A toc ``file`` without its suffix, as Sphinx names documents."""
    return str(Path(name).with_suffix("")) if Path(name).suffix in (".md", ".ipynb") else name


def toc_files(toc: dict) -> list[str]:
    """Every ``file`` of a jb-book table of contents in reading order, the root first."""
    files = [toc["root"]]

    def walk(entries: list) -> None:
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))

    walk(toc.get("chapters", []))
    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    return files


def chapter_of(doc: str, folder: str) -> str | None:
    """``ch`` when ``doc`` is ``<folder>/ch/ch`` (e.g. ``notebooks/bptt/bptt``), else None."""
    parts = Path(doc_name(doc)).parts
    if len(parts) == 3 and parts[0] == folder and parts[1] == parts[2]:
        return parts[1]
    return None


def regenerated_notebook(chapter: str, profile: str) -> str:
    """Where ``course regenerate`` keeps a chapter's executed solution (a doc name, no suffix)."""
    return f"{REGENERATED_FOLDER}/{profile}/{chapter}/{chapter}"


def instructor_toc(toc: dict, root: Path | None = None, profile: str | None = None) -> dict:
    """The instructor edition's toc: each chapter's solution right after ``notebooks/<ch>/<ch>``.

    The solution is ``solutions/<ch>/<ch>`` (executed by the build), or, with ``root`` and
    ``profile``, the notebook ``course regenerate`` executed under that profile when it exists
    (``results/<profile>/<ch>/<ch>``: shown with its outputs, not run again). Everything else is
    kept as it is. With ``root``, a missing solution notebook is a :class:`BookError` (the
    instructor edition would silently lack it otherwise).
    """
    derived = copy.deepcopy(toc)
    for entries in _entry_lists(derived):
        listed = {doc_name(entry["file"]) for entry in entries if "file" in entry}
        index = 0
        while index < len(entries):
            chapter = chapter_of(entries[index].get("file", ""), "notebooks")
            solution = f"solutions/{chapter}/{chapter}"
            executed = regenerated_notebook(chapter, profile) if profile else None
            if chapter and not listed & {solution, executed}:
                if root is not None and not (root / f"{solution}.ipynb").is_file():
                    raise BookError(f"_toc.yml lists notebooks/{chapter}/{chapter} but the instructor "
                                    f"notebook {solution}.ipynb does not exist")
                if root is not None and executed and (root / f"{executed}.ipynb").is_file():
                    solution = executed
                entries.insert(index + 1, {"file": solution})
                index += 1
            index += 1
    return derived


# --------------------------------------------------------------------------------------------
# The configuration of an edition


def edition_config(config: dict, edition: str, *, profile: str, root: Path, mathjax: str | None = None) -> dict:
    """The ``_config.yml`` of one edition, derived from the book's own.

    Both editions: one jupyter-cache per profile (``_build/.jupyter_cache-<profile>``), student
    notebooks never executed, and ``mathjax`` (``local``/``cdn``), when given, overrides
    ``course_mathjax``. Instructor edition: the solutions are executed too -- with no time limit per
    cell under ``cpu`` and ``full``, where one training cell may run for many minutes, and with
    ``_config.yml``'s limit under ``smoke`` -- the title says which edition this is, and a banner
    warns against publishing it.
    """
    if edition not in EDITIONS:
        raise BookError(f"unknown edition {edition!r}: choose one of {', '.join(EDITIONS)}")
    derived = copy.deepcopy(config)
    execute = derived.setdefault("execute", {})
    execute["cache"] = str((root / "_build" / f".jupyter_cache-{profile}").resolve())
    excluded = [p for p in execute.get("exclude_patterns", []) if edition == "student" or p != SOLUTION_NOTEBOOKS]
    for needed in [STUDENT_NOTEBOOKS, REGENERATED_NOTEBOOKS] + ([SOLUTION_NOTEBOOKS] if edition == "student" else []):
        if needed not in excluded:
            excluded.append(needed)
    execute["exclude_patterns"] = excluded
    if mathjax is not None:
        if mathjax not in MATHJAX_MODES:
            raise BookError(f"unknown MathJax source {mathjax!r}: choose one of {', '.join(MATHJAX_MODES)}")
        sphinx = derived.setdefault("sphinx", {})
        sphinx.setdefault("config", {})["course_mathjax"] = mathjax
    if edition == "instructor":
        if profile != "smoke":
            execute["timeout"] = -1
        derived["title"] = f"{derived.get('title', 'The book')} (instructor edition)"
        derived.setdefault("html", {})["announcement"] = (
            "Instructor edition: it shows the solutions and their hidden tests. Do not publish it to students.")
    return derived


def output_html(root: Path, edition: str) -> Path:
    """Where an edition's HTML lands."""
    return root / "_build" / "html" if edition == "student" else root / "_build" / "instructor" / "_build" / "html"


@dataclass
class BuildResult:
    """What a build did: its exit status, where the HTML is, how long it took, what it printed."""

    returncode: int
    html: Path
    seconds: float
    output: str | None  # None when the output went straight to the terminal

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def prepare(root: Path, edition: str, *, profile: str, mathjax: str | None = None) -> tuple[Path, Path]:
    """Write the edition's ``_config.yml`` and ``_toc.yml`` under ``_build/.course/<edition>/``."""
    root = root.resolve()
    for name in ("_config.yml", "_toc.yml"):
        if not (root / name).is_file():
            raise BookError(f"{root} holds no {name}: is it the course's repository?")
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf8"))
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf8"))
    if edition == "instructor":
        toc = instructor_toc(toc, root, profile)
    folder = root / "_build" / ".course" / edition
    folder.mkdir(parents=True, exist_ok=True)
    header = "# Generated by `course build` from the repository's {} -- edit that one, not this.\n"
    config_path, toc_path = folder / "_config.yml", folder / "_toc.yml"
    derived = edition_config(config, edition, profile=profile, root=root, mathjax=mathjax)
    config_path.write_text(header.format("_config.yml") + yaml.safe_dump(derived, sort_keys=False), encoding="utf8")
    toc_path.write_text(header.format("_toc.yml") + yaml.safe_dump(toc, sort_keys=False), encoding="utf8")
    return config_path, toc_path


def build(root: Path | None = None, edition: str = "student", *, profile: str | None = None,
          mathjax: str | None = None, fresh: bool = False, capture: bool = False,
          timeout: float | None = None, env: dict[str, str] | None = None) -> BuildResult:
    """Build one edition of the book with ``jupyter-book build -W --keep-going``.

    ``profile`` defaults to the active one (``COURSE_PROFILE``, else cpu/full by device); the
    book's code cells run with it. ``fresh`` re-reads every page (``--all``); executed pages still
    come from the cache. ``capture`` returns the tool's output instead of printing it.
    """
    from course_lib import config as course_config  # imports torch: only when building
    from course_lib.grading.tools import venv_command

    root = (root or find_course()).resolve()
    environment = dict(os.environ if env is None else env)
    if profile is None:
        try:
            profile = course_config.profile()
        except course_config.ProfileError as error:
            raise BookError(str(error)) from None
    if profile not in course_config.PROFILES:
        raise BookError(f"unknown profile {profile!r}: choose one of {', '.join(course_config.PROFILES)}")
    config_path, toc_path = prepare(root, edition, profile=profile, mathjax=mathjax)

    command = venv_command("jupyter-book")
    path_output = root if edition == "student" else root / "_build" / "instructor"
    arguments = [command, "build", str(root), "--config", str(config_path), "--toc", str(toc_path),
                 "--path-output", str(path_output), "-W", "--keep-going"] + (["--all"] if fresh else [])
    environment[course_config.PROFILE_VARIABLE] = profile
    # The notebook kernels are found beside jupyter-book, in the course's environment.
    environment["PATH"] = os.pathsep.join([str(Path(command).parent), environment.get("PATH", "")])
    started = time.perf_counter()
    done = subprocess.run(arguments, cwd=root, env=environment, text=True, timeout=timeout,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.STDOUT if capture else None)
    return BuildResult(done.returncode, output_html(root, edition), time.perf_counter() - started,
                       done.stdout if capture else None)


# --------------------------------------------------------------------------------------------
# `course build`


def run_build(args: argparse.Namespace) -> int:
    try:
        result = build(Path(args.course) if args.course else None, args.edition, profile=args.profile,
                       mathjax=args.mathjax, fresh=args.all)
    except (BookError, FileNotFoundError) as error:
        print(f"course build: {error}", file=sys.stderr)
        return 1
    if not result.ok:
        print(f"course build: the {args.edition} edition did not build (exit status {result.returncode}); "
              "the first warning or failing cell above says why. Warnings count as errors.", file=sys.stderr)
        return 1
    print(f"course build: the {args.edition} edition is in {result.html} ({result.seconds:.0f} s); "
          f"open {result.html / 'index.html'}")
    return 0


def add_parser(subparsers) -> None:
    """Register ``course build``."""
    parser = subparsers.add_parser(
        "build", help="build the book (student or instructor edition)",
        description="Build the course's Jupyter Book with warnings as errors. The student edition "
        "(default) has the book pages and the unexecuted student notebooks, in _build/html; the "
        "instructor edition adds each chapter's solution notebook, executed under the active "
        "profile, in _build/instructor/_build/html.",
    )
    parser.add_argument("--edition", choices=EDITIONS, default="student", help="which edition (default: student)")
    parser.add_argument("--profile", choices=("smoke", "cpu", "full"), default=None,
                        help="the COURSE_PROFILE for executed cells (default: the active profile)")
    parser.add_argument("--mathjax", choices=MATHJAX_MODES, default=None,
                        help="serve MathJax from the local copy or the CDN (default: course_mathjax in _config.yml)")
    parser.add_argument("--all", action="store_true", help="re-read every page (cached cell outputs are reused)")
    add_course_option(parser)
    parser.add_argument("--source", dest="course", help=argparse.SUPPRESS)  # the old name of --course
    parser.set_defaults(func=run_build)


# --------------------------------------------------------------------------------------------
# The Sphinx extension: MathJax served from the book itself


def mathjax_folder() -> Path:
    """MathJax 3's ``es5`` folder as shipped by the ``django-static-mathjax`` package."""
    spec = importlib.util.find_spec("mathjax")
    folder = Path(spec.origin).parent / "static" / "mathjax" / "es5" if spec and spec.origin else None
    if folder is None or not (folder / "tex-mml-chtml.js").is_file():
        raise BookError("course_mathjax is 'local' but no local MathJax was found: install the course's "
                        "requirements (`pip install -r requirements.txt`, which brings django-static-mathjax), "
                        "or set course_mathjax: cdn in _config.yml")
    return folder


def _configure_mathjax(app, config) -> None:
    mode = config.course_mathjax
    if mode not in MATHJAX_MODES:
        from sphinx.errors import ConfigError

        raise ConfigError(f"course_mathjax must be one of {', '.join(MATHJAX_MODES)}, not {mode!r}")
    if mode == "local":
        mathjax_folder()  # fail now, with the message, rather than ship pages without math
        config.mathjax_path = LOCAL_MATHJAX_SCRIPT


def _copy_mathjax(app, exception) -> None:
    """Copy MathJax into ``_static/mathjax`` once (again only when the installed copy changes)."""
    if exception is not None or app.config.course_mathjax != "local" or app.builder.format != "html":
        return
    import shutil

    source = mathjax_folder()
    target = Path(app.outdir) / "_static" / "mathjax"
    stamp = target / ".copied-from"
    signature = f"{source} {(source / 'tex-mml-chtml.js').stat().st_mtime_ns}"
    if stamp.is_file() and stamp.read_text() == signature:
        return
    shutil.copytree(source, target, dirs_exist_ok=True)
    stamp.write_text(signature)


def _drop_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
    """Keep the first of identical ``<script>`` entries.

    With Jupyter Book 1.0.4 (Sphinx 7.4, sphinx-thebe 0.3.1) every page declares sphinx-thebe's
    ``const THEBE_JS_URL`` twice (once with filename None, once with ""), and the browser reports
    the second as a SyntaxError.
    """
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        # the same file (or inline body: filename None or "") with the same attributes, whatever its priority
        key = (str(getattr(script, "filename", script) or ""), repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app) -> dict:
    """Sphinx entry point: the ``course_mathjax`` setting (``local`` or ``cdn``), and pages that
    declare each script once."""
    app.add_config_value("course_mathjax", "local", "html", [str])
    app.connect("config-inited", _configure_mathjax)
    app.connect("html-page-context", _drop_repeated_scripts)
    app.connect("build-finished", _copy_mathjax)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
