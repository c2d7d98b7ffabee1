"""Chapter and assignment numbers, taken from the table of contents (a Sphinx extension).

No title or sentence of the course types a chapter's number: moving a chapter in ``_toc.yml``
renumbers everything. The "Chapters" part of the toc lists each chapter as its lecture
(``book/<ch>``) with its assignment nested under it (``notebooks/<ch>/<ch>``; the instructor
edition adds ``solutions/<ch>/<ch>`` or the executed ``results/<profile>/<ch>/<ch>``). The n-th
lecture's title becomes "n. <title>", its assignment's "Assignment n: <title>" and its solution's
"Solution n: <title>", in the page, the sidebar and every ``{doc}`` link (Sphinx collects titles
after this extension has numbered them).
"""

from __future__ import annotations

from pathlib import Path

import yaml

CHAPTERS_CAPTION = "Chapters"
#: The folder a nested page lives in -> how its title is numbered.
NESTED_PREFIX = {"notebooks": "Assignment {n}: ", "solutions": "Solution {n}: ", "results": "Solution {n}: "}


def _doc(file: str) -> str:
    path = Path(file)
    return str(path.with_suffix("")) if path.suffix in (".md", ".ipynb") else file


def chapter_prefixes(toc: dict) -> dict[str, str]:
    """``{doc name: title prefix}`` for the pages of the toc's "Chapters" part, in toc order."""
    prefixes: dict[str, str] = {}
    for part in toc.get("parts", []):
        if part.get("caption") != CHAPTERS_CAPTION:
            continue
        for n, chapter in enumerate(part.get("chapters", []), start=1):
            prefixes[_doc(chapter["file"])] = f"{n}. "
            for section in chapter.get("sections", []):
                folder = Path(section["file"]).parts[0]
                if folder in NESTED_PREFIX:
                    prefixes[_doc(section["file"])] = NESTED_PREFIX[folder].format(n=n)
    return prefixes


def _toc_of(app) -> dict:
    path = Path(str(app.config.external_toc_path))
    if not path.is_absolute():
        path = Path(app.srcdir) / path
    return yaml.safe_load(path.read_text(encoding="utf8"))


def _number_title(app, doctree) -> None:
    """Put the page's number in front of its first title, before Sphinx collects the title."""
    from docutils import nodes

    prefixes = getattr(app.env, "course_chapter_prefixes", None)
    if prefixes is None:
        prefixes = app.env.course_chapter_prefixes = chapter_prefixes(_toc_of(app))
    prefix = prefixes.get(app.env.docname)
    section = doctree.next_node(nodes.section)
    if prefix and section is not None and isinstance(section[0], nodes.title):
        section[0].insert(0, nodes.Text(prefix))


def _forget_prefixes(app, env, docnames) -> None:
    """A rebuild reads the toc again (a chapter may have moved)."""
    env.course_chapter_prefixes = None


def setup(app) -> dict:
    app.connect("env-before-read-docs", _forget_prefixes)
    # before Sphinx's TitleCollector (priority 500), so that titles, sidebar and links carry the number
    app.connect("doctree-read", _number_title, priority=400)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
