"""Open every page of the student edition in headless Chromium, as a reader would.

The book (the session's build, see conftest.py) is served on 127.0.0.1 and every page of the toc
is loaded once. For each page: no console errors (exceptions, console.error, failed loads), a
title, typeset math, images that load; for each assignment, visible launch and download buttons.
Screenshots of the landing page and of one derivation page go to _build/screenshots/ (kept by CI).

MathJax is served from the book itself (course_mathjax: local), so nothing here needs a network.
"""

from __future__ import annotations

import functools
import http.server
import threading

import pytest
import yaml
from booktest import CHAPTER, REPO, html_of
from chromium_cdp import INSTALL_HINT, Chromium, find_chromium

from course_lib import book

pytestmark = pytest.mark.needs_program("Chromium", find_chromium, INSTALL_HINT)
SCREENSHOTS = REPO / "_build" / "screenshots"
CONFIG = yaml.safe_load((REPO / "_config.yml").read_text())

#: Runs in each page once it has loaded; its return value is the page's report.
CHECK_PAGE = r"""
if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
await document.fonts.ready;
const images = await Promise.all([...document.images].map(image =>
    image.decode().then(() => ({src: image.src, ok: image.naturalWidth > 0}),
                        () => ({src: image.src, ok: false}))));
const visible = element => !!element && element.getBoundingClientRect().width > 0
                           && getComputedStyle(element).visibility !== 'hidden';
const links = selector => [...document.querySelectorAll(selector)].map(a => a.href);
const launch = document.querySelector('.dropdown-launch-buttons');
const download = document.querySelector('.dropdown-download-buttons');
const notebooks = links('.dropdown-download-buttons a').filter(href => href.endsWith('.ipynb'));
const fetched = await Promise.all(notebooks.map(href => fetch(href).then(answer => answer.status)));
const h1 = document.querySelector('article h1, main h1, h1');
// LaTeX that reached the reader as text: math written outside MyST's $...$ / $$...$$ / {math}
const strayTex = [];
const walker = document.createTreeWalker(document.querySelector('main') || document.body, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  if (node.parentElement.closest('script, style, pre, code, .math, mjx-container, .highlight, textarea')) continue;
  if (/\$\$|\\(frac|sum|partial|begin\{|mathbf|odot|tanh)\b/.test(node.textContent)) strayTex.push(node.textContent.trim().slice(0, 80));
}
// displayed equations must stay inside the text column (a wide one scrolls within it)
const column = document.querySelector('article.bd-article') || document.querySelector('main');
const box = column.getBoundingClientRect();
const overflowing = [...document.querySelectorAll('div.math, mjx-container[display="true"]')]
    .filter(m => m.getBoundingClientRect().width > 0)
    .filter(m => m.getBoundingClientRect().right > box.right + 1 || m.getBoundingClientRect().left < box.left - 1)
    .map(m => `${Math.round(m.getBoundingClientRect().right - box.right)} px past the column: `
              + (m.getAttribute('id') || m.textContent.trim().slice(0, 60)));
const chapterTable = document.querySelector('section#the-chapters table');
return {
  title: document.title,
  overflowing: overflowing,
  sidebar: links('.bd-sidebar-primary nav a.reference.internal').map(href => new URL(href).pathname),
  chapterTable: chapterTable ? [...chapterTable.querySelectorAll('td:first-child a.reference.internal')].map(a => new URL(a.href).pathname) : [],
  h1: h1 ? h1.textContent.replace(/#$/, '').trim() : null,
  math: document.querySelectorAll('.math').length,
  typeset: [...document.querySelectorAll('.math')].filter(m => m.querySelector('mjx-container')).length,
  mathErrors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent),
  strayTex: strayTex,
  images: images,
  launchVisible: visible(launch && launch.querySelector('button')),
  launchLinks: links('.dropdown-launch-buttons a'),
  downloadVisible: visible(download && download.querySelector('button')),
  notebookDownloads: notebooks.map((href, i) => ({href: href, status: fetched[i]})),
};
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    failures: list[str]

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass

    def log_request(self, code="-", size="-"):
        if str(code).isdigit() and int(code) >= 400:
            self.failures.append(f"{code} {self.path}")


@pytest.fixture(scope="module")
def server(student_book):
    """The student edition served on 127.0.0.1 (a free port), with a list of failed requests."""
    failures: list[str] = []
    handler = type("Handler", (_QuietHandler,), {"failures": failures})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(handler, directory=str(student_book.html)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", failures
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    executable = find_chromium()
    if executable is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    with Chromium(executable, tmp_path_factory.mktemp("chromium") / "profile") as chromium:
        yield chromium


def derivation_page(built) -> str:
    """The first page after the landing page with displayed equations; a course chapter if any."""
    candidates = [page for page in built.pages()[1:] if '<div class="math' in html_of(built, page)]
    assert candidates, "no page of the book shows a displayed equation"
    lectures = [page for page in candidates
                if page.startswith("book/") and page not in ("book/reference", f"book/{CHAPTER}")]
    return (lectures or [page for page in candidates if page != f"book/{CHAPTER}"] or candidates)[0]


@pytest.fixture(scope="module")
def visits(browser, student_book, server):
    """Every page of the toc, loaded once: {page: PageReport}; the screenshots are taken on the way."""
    base, _ = server
    landing, derivation = student_book.pages()[0], derivation_page(student_book)
    reports = {}
    for page in student_book.pages():
        reports[page] = browser.visit(f"{base}{page}.html", CHECK_PAGE)
        if page == landing:
            browser.screenshot(SCREENSHOTS / "landing.png")
        if page == derivation:  # with its first displayed equation in view
            browser.evaluate("document.querySelector('div.math').scrollIntoView({block: 'center'})")
            browser.evaluate("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
            browser.screenshot(SCREENSHOTS / "derivation.png")
    return reports


def test_no_page_logs_a_console_error(visits, server):
    _, failed_requests = server
    problems = [f"{page}: {error}" for page, report in visits.items() for error in report.errors]
    assert not problems, "the browser console reported errors:\n" + "\n".join(problems)
    assert not failed_requests, "pages asked for files the book does not have:\n" + "\n".join(failed_requests)


def test_every_page_has_its_title(visits):
    book_title = CONFIG["title"]
    for page, report in visits.items():
        heading = report.checks.get("h1")
        assert heading, f"{page} has no <h1> heading"
        assert report.checks["title"] == f"{heading} — {book_title}", \
            f"{page}: the window title {report.checks['title']!r} does not name the page {heading!r}"


def test_math_is_typeset(visits):
    for page, report in visits.items():
        assert not report.checks["strayTex"], \
            f"{page} shows LaTeX as plain text (use MyST math: $...$ or $$...$$): {report.checks['strayTex']}"
    pages_with_math = [page for page, report in visits.items() if report.checks.get("math")]
    assert f"book/{CHAPTER}" in pages_with_math and "book/reference" in pages_with_math
    for page in pages_with_math:
        checks = visits[page].checks
        assert checks["typeset"] == checks["math"], \
            f"{page}: MathJax typeset {checks['typeset']} of its {checks['math']} formulas"
        assert not checks["mathErrors"], f"{page}: MathJax could not read {checks['mathErrors']}"


def test_no_equation_overflows_its_column(visits):
    problems = [f"{page}: {item}" for page, report in visits.items() for item in report.checks["overflowing"]]
    assert not problems, "displayed equations run past the text column at 1280 px:\n" + "\n".join(problems)


def test_sidebar_lists_the_chapters_in_the_order_of_the_landing_page(visits, student_book):
    landing = visits[student_book.pages()[0]].checks
    table = landing["chapterTable"]
    assert len(table) == 9, f"the landing page's chapter table links {table}"
    in_sidebar = [path for path in landing["sidebar"] if path in table]
    assert in_sidebar == table, f"sidebar order {in_sidebar} differs from the landing page's table {table}"


def test_images_load(visits):
    checked = 0
    for page, report in visits.items():
        for image in report.checks.get("images", []):
            assert image["ok"], f"{page}: the image {image['src']} did not load"
            checked += 1
    assert any(image["src"].endswith(f"{CHAPTER}.png") for image in visits[f"book/{CHAPTER}"].checks["images"])
    assert checked > 1


def test_assignment_pages_show_launch_and_download_buttons(visits):
    launch = CONFIG["launch_buttons"]
    assignments = [page for page in visits if book.chapter_of(page, "notebooks")]
    assert f"notebooks/{CHAPTER}/{CHAPTER}" in assignments
    for page in assignments:
        checks = visits[page].checks
        assert checks["launchVisible"], f"{page}: the launch (rocket) button is not visible"
        for service in ("binderhub_url", "colab_url", "jupyterhub_url"):
            assert any(link.startswith(launch[service]) for link in checks["launchLinks"]), \
                f"{page}: no launch link to {launch[service]} among {checks['launchLinks']}"
        assert checks["downloadVisible"], f"{page}: the download button is not visible"
        assert [d["status"] for d in checks["notebookDownloads"]] == [200], \
            f"{page}: the .ipynb download does not work: {checks['notebookDownloads']}"


def test_screenshots_are_saved(visits):
    for name in ("landing.png", "derivation.png"):
        path = SCREENSHOTS / name
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
        assert path.stat().st_size > 10_000, f"{path} looks empty"
