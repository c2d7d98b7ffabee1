"""The student edition builds with -W, and every page of _toc.yml becomes the page it should be.

The book is built once per session (see conftest.py) from a copy of the repository's sources plus
a small test chapter, with the smoke profile and local MathJax, the way CI builds it.
"""

import json
import re
from pathlib import Path

import yaml
from booktest import CHAPTER, REPO, chapters_part, html_of

from course_lib import book

CONFIG = yaml.safe_load((REPO / "_config.yml").read_text())


def test_every_toc_page_is_built(student_book):
    for page in student_book.pages():
        html = student_book.html / f"{page}.html"
        assert html.is_file(), f"{page} is listed in _toc.yml but {html} was not built"


def test_the_front_page_opens_the_landing_page(student_book):
    root = yaml.safe_load((REPO / "_toc.yml").read_text())["root"]
    index = (student_book.html / "index.html").read_text()
    assert f'url={root}.html' in index, f"index.html should redirect to {root}.html:\n{index}"


def test_library_reference_renders_the_cell_equations(student_book):
    reference = html_of(student_book, "book/reference")
    assert "course_lib.cells.LSTMCell" in reference
    assert r"c_t &amp;= f_t \odot c_{t-1} + i_t \odot g_t" in reference  # the LSTM's equations, as math


def test_landing_page_says_what_for_whom_prerequisites_setup_and_chapters(student_book):
    landing = html_of(student_book, "book/intro")
    for heading in ("Who it is for", "What you should know first", "Setting up", "The chapters"):
        assert f">{heading}<" in landing, f"the landing page has no section {heading!r}"
    for route in ("laptop, CPU only", "GPU", "Google Colab"):
        assert route in landing, f"the landing page's set-up section does not mention {route!r}"
    table = landing[landing.index(">The chapters<"):]
    table = table[:table.index("</table>")]
    linked = re.findall(r'<td><p><a class="reference internal" href="([a-z_]+)\.html"><span class="doc">(.*?)</span>', table)
    lectures = [Path(entry["file"]).name for entry in chapters_part(student_book.toc)]
    assert [page for page, _ in linked] == lectures[:9], f"the chapter map should link the chapters in toc order: {linked}"
    assert [title.split(". ")[0] for _, title in linked] == [str(n) for n in range(1, 10)], linked
    for page in ("setup", "grading"):
        assert f'href="{page}.html' in landing, f"the landing page does not link to {page}"


def test_grading_page_explains_visible_and_hidden_tests(student_book):
    grading = html_of(student_book, "book/grading")
    for fact in ("Visible tests", "Hidden tests", "from scratch", "feedback file", "by hand"):
        assert fact in grading, f"the grading page does not mention {fact!r}"


def heading_of(html: str) -> str:
    """The text of a page's first <h1>, without the permalink sign."""
    heading = re.search(r"<h1>(.*?)</h1>", html, re.S).group(1)
    return re.sub(r"<[^>]+>|#", "", heading).strip()


def test_chapter_and_assignment_numbers_come_from_the_toc(student_book):
    chapters = chapters_part(student_book.toc)
    assert [Path(entry["file"]).name for entry in chapters][:9] == [
        "bptt", "params", "cells", "sentiment", "gates", "baum_sweet", "char_lm", "word_lm", "grammars"]
    for n, entry in enumerate(chapters, start=1):
        lecture = heading_of(html_of(student_book, book.doc_name(entry["file"])))
        assert lecture.startswith(f"{n}. ") and not lecture[len(f"{n}. "):][:1].isdigit(), lecture
        (assignment,) = [book.doc_name(section["file"]) for section in entry["sections"]]
        assert heading_of(html_of(student_book, assignment)).startswith(f"Assignment {n}: "), assignment


TYPED_NUMBER = re.compile(r"\b(?:[Cc]hapter|[Aa]ssignment|[Ll]ecture) \d")


def test_no_title_or_sentence_types_a_chapter_number():
    sources = {page: page.read_text(encoding="utf8") for page in (REPO / "book").glob("*.md")}
    for notebook in (REPO / "solutions").glob("*/*.ipynb"):
        cells = json.loads(notebook.read_text(encoding="utf8"))["cells"]
        sources[notebook] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    for path, text in sources.items():
        title = next(line for line in text.splitlines() if line.startswith("# "))
        assert not re.match(r"# (?:\d|Assignment|Chapter|Part \d)", title), f"{path}: the title types a number: {title}"
        assert not TYPED_NUMBER.search(text), f"{path} types a chapter's number: {TYPED_NUMBER.search(text).group(0)!r}"


#: What a hand-typed run result looks like on a page: a results table by profile and device, a
#: machine's load, a wall time in minutes and seconds, the old way of timing a notebook.
TYPED_RUN_RESULT = re.compile(r"\|\s*profile\s*\|\s*device\s*\||\bload(?: average)?(?: of)?(?: about)? \d"
                              r"|\b\d+ min \d+ s\b|nbconvert --execute")


def test_chapter_pages_take_their_run_results_from_course_regenerate():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    for entry in chapters_part(toc):
        chapter = Path(entry["file"]).name
        text = (REPO / "book" / f"{chapter}.md").read_text(encoding="utf8")
        assert f"```{{include}} results/{chapter}.md\n```" in text, \
            f"book/{chapter}.md does not include its generated results table, results/{chapter}.md"
        typed = TYPED_RUN_RESULT.search(text)
        assert not typed, (f"book/{chapter}.md types a run result by hand ({typed.group(0)!r}): "
                           f"report it from the notebook and let `course regenerate` write it")


def test_citations_read_author_year_and_every_reference_is_in_the_bib(student_book):
    bptt = re.sub(r"<[^>]+>", "", html_of(student_book, "book/bptt"))
    assert "Werbos [1990]" in bptt.replace("\u00a0", " ").replace("&nbsp;", " "), "author-year citations are not rendered"
    for page in student_book.pages():
        labels = re.findall(r"\[[A-Z][A-Za-z]{1,8}\+?\d\d\]", html_of(student_book, page))
        assert not labels, f"{page} prints citation labels instead of author and year: {labels[:3]}"
    for page in (REPO / "book").glob("*.md"):
        text = page.read_text(encoding="utf8")
        if "## References" in text:
            section = text.split("## References", 1)[1].split("\n## ", 1)[0]
            typed = [line for line in section.splitlines() if line.startswith("- ") and "{cite:" not in line]
            assert not typed, f"{page.name} types a reference by hand instead of citing book/references.bib: {typed}"


def test_bibliography_lists_the_five_papers(student_book):
    bibliography = html_of(student_book, "book/bibliography")
    entries = [re.sub(r"<[^>]+>", "", entry) for entry in re.findall(r'role="doc-biblioentry">(.*?)</div>', bibliography, re.S)]
    for author, year in [("Zaremba", 2014), ("Greff", 2015), ("Cho", 2014), ("Hochreiter", 1997), ("Maas", 2011)]:
        assert any(author in entry and f"{year}." in entry for entry in entries), \
            f"the bibliography lacks {author} et al. {year}: {entries}"
    landing = html_of(student_book, "book/intro")
    assert landing.count('href="bibliography.html#id') >= 5, "the landing page should cite the papers"


def test_book_code_cells_run_once_with_the_smoke_profile(student_book):
    lecture = html_of(student_book, f"book/{CHAPTER}")
    assert 'class="cell_output' in lecture and "profile: smoke" in lecture, \
        "the lecture's code cell did not run (or not with COURSE_PROFILE=smoke)"
    assert student_book.counter.read_text().splitlines() == ["ran"]


def test_student_notebooks_are_published_unexecuted(student_book):
    for page in student_book.pages():
        if book.chapter_of(page, "notebooks"):
            html = html_of(student_book, page)
            assert "class=\"cell_output" not in html, f"{page} was executed: student notebooks must be published as given"
    assignment = html_of(student_book, f"notebooks/{CHAPTER}/{CHAPTER}")
    assert "raise" in assignment and "NotImplementedError" in assignment


def test_solutions_are_not_in_the_student_edition(student_book):
    assert not (student_book.html / "solutions").exists()
    for page in student_book.html.rglob("*.html"):
        assert "BEGIN SOLUTION" not in page.read_text(encoding="utf8"), f"{page} shows a solution"


def test_assignment_pages_have_launch_and_download_buttons(student_book):
    launch = CONFIG["launch_buttons"]
    repository = CONFIG["repository"]["url"].removeprefix("https://github.com/")
    assignments = [page for page in student_book.pages() if book.chapter_of(page, "notebooks")]
    assert f"notebooks/{CHAPTER}/{CHAPTER}" in assignments
    for page in assignments:
        html = html_of(student_book, page).replace("&amp;", "&")
        expected = {
            "Binder": f"{launch['binderhub_url']}/v2/gh/{repository}/main?urlpath=lab/tree/{page}.ipynb",
            "Colab": f"{launch['colab_url']}/github/{repository}/blob/main/{page}.ipynb",
            "JupyterHub": f"{launch['jupyterhub_url']}/hub/user-redirect/git-pull?repo=",
        }
        for service, url in expected.items():
            assert url in html, f"{page} has no {service} launch button ({url})"
        depth = "../" * page.count("/")
        assert f'href="{depth}_sources/{page}.ipynb"' in html, f"{page} has no .ipynb download button"
        assert (student_book.html / "_sources" / f"{page}.ipynb").is_file()


def test_math_is_served_from_the_book_itself(student_book):
    mathjax = student_book.html / "_static" / book.LOCAL_MATHJAX_SCRIPT
    assert mathjax.is_file(), f"{mathjax} is missing: course_mathjax: local did not copy MathJax"
    assert any((mathjax.parent / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff")), "MathJax's fonts are missing"
    pages_with_math = 0
    for page in student_book.pages():
        html = html_of(student_book, page)
        assert "cdn.jsdelivr.net/npm/mathjax" not in html, f"{page} loads MathJax from the CDN"
        if 'class="math' in html:
            pages_with_math += 1
            assert book.LOCAL_MATHJAX_SCRIPT in html, f"{page} has math but does not load the local MathJax"
    assert pages_with_math >= 2  # the library reference and the test chapter at least


def test_each_script_is_declared_once(student_book):
    # Jupyter Book 1.0.4 declares sphinx-thebe's `const THEBE_JS_URL` twice: a SyntaxError in browsers
    for page in student_book.pages():
        assert html_of(student_book, page).count("const THEBE_JS_URL") <= 1, f"{page} declares THEBE_JS_URL twice"


def test_generated_notebook_metadata_is_json(student_book):
    # the download button hands out this file: it must be the notebook, not a rendering of it
    notebook = json.loads((student_book.html / "_sources" / "notebooks" / CHAPTER / f"{CHAPTER}.ipynb").read_text())
    assert notebook["cells"][1]["metadata"]["nbgrader"]["grade_id"] == "double"
