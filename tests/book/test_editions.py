"""The two editions come from one _toc.yml and one _config.yml; `course build` wraps jupyter-book.

The end-to-end builds here use a small book (the landing page, the grading page and the test
chapter) so that they stay quick however many chapters the real book has; the real book's
solutions are executed by nbval in the notebook tests.
"""

from pathlib import PurePosixPath

import pytest
import yaml
from booktest import CHAPTER, REPO, BuiltBook, build_book, build_env, chapters_part, copy_book, html_of

from course_lib import book, cli

CONFIG = yaml.safe_load((REPO / "_config.yml").read_text())
TOC = yaml.safe_load((REPO / "_toc.yml").read_text())


# -- the toc -------------------------------------------------------------------------------------


def test_instructor_toc_puts_each_solution_right_after_its_notebook():
    toc = {"format": "jb-book", "root": "book/intro", "parts": [
        {"caption": "The course", "chapters": [{"file": "book/setup"}]},
        {"caption": "Chapters", "chapters": [
            {"file": "book/bptt"}, {"file": "notebooks/bptt/bptt"},
            {"file": "book/params"}, {"file": "notebooks/params/params.ipynb"},
            {"file": "book/cells", "sections": [{"file": "notebooks/cells/cells"}]},
        ]},
    ]}
    derived = book.instructor_toc(toc)
    assert book.toc_files(derived) == [
        "book/intro", "book/setup",
        "book/bptt", "notebooks/bptt/bptt", "solutions/bptt/bptt",
        "book/params", "notebooks/params/params.ipynb", "solutions/params/params",
        "book/cells", "notebooks/cells/cells", "solutions/cells/cells",
    ]
    assert book.toc_files(toc)[3] == "notebooks/bptt/bptt" and len(book.toc_files(toc)) == 8, "the input was changed"
    assert book.instructor_toc(derived) == derived, "deriving twice must not add a second solution"


def test_instructor_toc_refuses_a_chapter_without_solution(tmp_path):
    toc = {"format": "jb-book", "root": "book/intro", "chapters": [{"file": "notebooks/gone/gone"}]}
    with pytest.raises(book.BookError, match="solutions/gone/gone.ipynb does not exist"):
        book.instructor_toc(toc, tmp_path)


def test_instructor_toc_shows_the_regenerated_notebook_of_the_profile(tmp_path):
    toc = {"format": "jb-book", "root": "book/intro", "chapters": [
        {"file": "notebooks/bptt/bptt"}, {"file": "notebooks/params/params"}]}
    for chapter in ("bptt", "params"):
        (tmp_path / "solutions" / chapter).mkdir(parents=True)
        (tmp_path / "solutions" / chapter / f"{chapter}.ipynb").write_text("{}")
    (tmp_path / "results" / "full" / "bptt").mkdir(parents=True)
    (tmp_path / "results" / "full" / "bptt" / "bptt.ipynb").write_text("{}")
    derived = book.instructor_toc(toc, tmp_path, "full")
    assert book.toc_files(derived) == ["book/intro", "notebooks/bptt/bptt", "results/full/bptt/bptt",
                                       "notebooks/params/params", "solutions/params/params"]
    assert book.instructor_toc(derived, tmp_path, "full") == derived, "deriving twice must not add a second one"
    assert book.toc_files(book.instructor_toc(toc, tmp_path, "cpu"))[2] == "solutions/bptt/bptt"


def test_the_repository_toc_lists_each_chapter_as_its_lecture_with_its_assignment():
    chapters = chapters_part(TOC)
    assert chapters, 'the "Chapters" part must not be empty'
    for entry in chapters:
        lecture = book.doc_name(entry["file"])
        assert lecture.startswith("book/"), f"{lecture}: a chapter of _toc.yml starts with its lecture"
        chapter = lecture.removeprefix("book/")
        assert [book.doc_name(s["file"]) for s in entry.get("sections", [])] == [f"notebooks/{chapter}/{chapter}"], \
            f"{lecture} must have exactly its assignment notebooks/{chapter}/{chapter} nested under it"
        assert (REPO / "solutions" / chapter / f"{chapter}.ipynb").is_file(), f"{chapter} has no solution notebook"
    for name in book.toc_files(TOC):
        assert any((REPO / book.doc_name(name)).with_suffix(suffix).is_file() for suffix in (".md", ".ipynb")), \
            f"_toc.yml lists {name}, which does not exist"
    derived = book.instructor_toc(TOC, REPO)
    added = [name for name in book.toc_files(derived) if name not in book.toc_files(TOC)]
    chapters_in_order = [book.doc_name(entry["file"]).removeprefix("book/") for entry in chapters]
    assert added == [f"solutions/{c}/{c}" for c in chapters_in_order]


# -- the configuration -----------------------------------------------------------------------------


def test_a_failing_cell_is_an_error_not_a_warning():
    execute = CONFIG["execute"]
    assert execute["execute_notebooks"] == "cache"
    assert execute["allow_errors"] is False and execute["raise_on_error"] is True


@pytest.mark.parametrize("edition", book.EDITIONS)
def test_which_notebooks_each_edition_executes(edition, tmp_path):
    derived = book.edition_config(CONFIG, edition, profile="smoke", root=tmp_path)
    patterns = derived["execute"]["exclude_patterns"]

    def excluded(path: str) -> bool:  # how myst-nb matches them
        return any(PurePosixPath(f"/somewhere/repo/{path}").match(pattern) for pattern in patterns)

    assert excluded("notebooks/bptt/bptt.ipynb"), "student notebooks must never be executed"
    assert excluded("solutions/bptt/bptt.ipynb") == (edition == "student")
    assert excluded("results/full/bptt/bptt.ipynb"), "notebooks course regenerate executed are shown, not re-run"
    assert not excluded("book/bptt.md")
    assert derived["execute"]["cache"] == str(tmp_path.resolve() / "_build" / ".jupyter_cache-smoke")
    assert ("instructor edition" in derived["title"]) == (edition == "instructor")
    assert derived["execute"]["timeout"] == CONFIG["execute"]["timeout"], "smoke builds keep the cell time limit"
    long_runs = book.edition_config(CONFIG, edition, profile="full", root=tmp_path)["execute"]["timeout"]
    assert long_runs == (-1 if edition == "instructor" else CONFIG["execute"]["timeout"])
    assert CONFIG == yaml.safe_load((REPO / "_config.yml").read_text()), "edition_config changed its input"


def test_the_mathjax_switch(tmp_path):
    assert CONFIG["sphinx"]["config"]["course_mathjax"] in book.MATHJAX_MODES
    assert "course_lib.book" in CONFIG["sphinx"]["extra_extensions"]
    derived = book.edition_config(CONFIG, "student", profile="cpu", root=tmp_path, mathjax="cdn")
    assert derived["sphinx"]["config"]["course_mathjax"] == "cdn"
    with pytest.raises(book.BookError, match="local, cdn"):
        book.edition_config(CONFIG, "student", profile="cpu", root=tmp_path, mathjax="nearby")
    assert (book.mathjax_folder() / "tex-mml-chtml.js").is_file()


# -- the command -----------------------------------------------------------------------------------


def test_course_build_is_a_command(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["build", "--help"])
    assert done.value.code == 0
    help_text = capsys.readouterr().out
    assert "--edition {student,instructor}" in help_text and "--profile" in help_text


def test_course_build_explains_a_missing_book(tmp_path, capsys):
    assert cli.main(["build", "--source", str(tmp_path), "--profile", "smoke"]) == 1
    assert "holds no _config.yml" in capsys.readouterr().err


# -- end to end, on a small book ---------------------------------------------------------------------


def small_book(root):
    """A copy of the book whose toc holds the landing page's neighbours and the test chapter."""
    copy_book(root)
    toc = {"format": "jb-book", "root": "book/grading", "parts": [
        {"caption": "Chapters", "chapters": [{"file": f"book/{CHAPTER}"}, {"file": f"notebooks/{CHAPTER}/{CHAPTER}"}]},
    ]}
    (root / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    return root


@pytest.fixture(scope="module")
def instructor_book(tmp_path_factory) -> BuiltBook:
    return build_book(small_book(tmp_path_factory.mktemp("small-book")), "instructor", timeout=600)


def test_instructor_edition_shows_the_executed_solutions(instructor_book):
    assert instructor_book.html == instructor_book.root / "_build" / "instructor" / "_build" / "html"
    solution = html_of(instructor_book, f"solutions/{CHAPTER}/{CHAPTER}")
    assert "profile: smoke" in solution and "solution ran" in solution, "the solution notebook was not executed"
    assert "BEGIN SOLUTION" in solution
    assignment = html_of(instructor_book, f"notebooks/{CHAPTER}/{CHAPTER}")
    assert 'class="cell_output' not in assignment, "the student notebook must stay unexecuted"
    assert 'href="../../solutions/' in assignment, "the solution should follow the assignment in the navigation"
    assert "Instructor edition" in solution and "instructor edition" in solution  # the banner and the title
    assert not (instructor_book.root / "_build" / "html").exists(), "the student edition's folder was touched"


def test_an_unchanged_page_is_not_run_again(instructor_book):
    assert instructor_book.counter.read_text().splitlines() == ["ran"]
    result = book.build(instructor_book.root, "student", profile="smoke", capture=True, timeout=600,
                        env=build_env(instructor_book.counter))
    assert result.ok, result.output[-6000:]
    assert "profile: smoke" in (result.html / "book" / f"{CHAPTER}.html").read_text()
    assert instructor_book.counter.read_text().splitlines() == ["ran"], \
        "the lecture's code ran again although the page did not change: jupyter-cache was not used"


def test_a_failing_cell_fails_the_build(tmp_path):
    root = small_book(tmp_path / "broken")
    (root / "book" / "broken.md").write_text(
        "---\njupytext:\n  text_representation:\n    format_name: myst\n"
        "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n"
        "# A broken page\n\n```{code-cell} ipython3\nraise ValueError('a deliberate failure')\n```\n")
    (root / "_toc.yml").write_text(yaml.safe_dump({"format": "jb-book", "root": "book/broken"}))
    result = book.build(root, "student", profile="smoke", capture=True, timeout=600, env=build_env(tmp_path / "n"))
    assert not result.ok, "a page whose code cell raises was published"
    assert "a deliberate failure" in result.output
