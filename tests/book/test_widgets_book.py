"""Where widgets cannot run -- the book -- the explorers show no widget, and the static fallback
cell follows each explorer cell.

The student edition publishes the student notebooks unexecuted (course_lib/book.py): a page shows
the explorer cell without an output and without a widget manager (which would come from a CDN and
show nothing offline), then the cell that draws ``explorer.static_figure()``. The live explorers
are tested in JupyterLab by test_widgets_live.py.
"""

from __future__ import annotations

import html
import re

import pytest
from booktest import html_of
from labtest import EXPLORERS

#: What a page would hold if it showed a widget view or loaded a widget manager (from a CDN).
WIDGET_TRACES = ("application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json",
                 "html-manager", "embed-amd", "jupyter-widgets")


def page_cells(page: str) -> list[str]:
    """The HTML of each notebook cell of a built page, in order (myst-nb's cell containers)."""
    return re.findall(r'<div class="cell docutils container">(.*?)(?=<div class="cell docutils container">|</section>)',
                      page, flags=re.S)


def text_of(fragment: str) -> str:
    """The text of an HTML fragment (tags dropped, entities decoded): a cell's code as written."""
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


@pytest.mark.parametrize("explorer", EXPLORERS, ids=lambda explorer: explorer.chapter)
def test_the_book_shows_no_widget_and_the_fallback_cell_after_the_explorer(explorer, student_book):
    page = html_of(student_book, f"notebooks/{explorer.chapter}/{explorer.chapter}")
    for trace in WIDGET_TRACES:
        assert trace not in page, f"the book's page of {explorer.chapter} holds {trace!r}: a widget it cannot run"
    cells = [text_of(cell) for cell in page_cells(page)]
    built = [index for index, cell in enumerate(cells) if explorer.constructor in cell]
    assert built, f"the book's page of {explorer.chapter} has no cell that calls {explorer.constructor}"
    assert "cell_output" not in page_cells(page)[built[0]], \
        f"{explorer.chapter}: the book shows an output of the explorer cell, which needs a kernel"
    assert built[0] + 1 < len(cells) and "explorer.static_figure(" in cells[built[0] + 1], \
        f"{explorer.chapter}: the cell after the explorer does not draw its static figure"


def test_an_executed_explorer_shows_its_static_figure_and_no_widget(student_book):
    # the test chapter's lecture runs a TemperatureExplorer as a book page's code cell (booktest.LECTURE),
    # as the instructor edition runs the solutions: the page shows the explorer's PNG, not a widget
    from booktest import CHAPTER

    page = html_of(student_book, f"book/{CHAPTER}")
    # (the notebook's saved widget state may stay in the page: inert JSON that nothing loads or runs)
    for trace in ("application/vnd.jupyter.widget-view+json", "html-manager", "embed-amd", "require.min.js"):
        assert trace not in page, f"the executed explorer left {trace!r} in the page"
    (explorer_cell,) = [cell for cell in page_cells(page) if "TemperatureExplorer(" in text_of(cell)]
    assert "cell_output" in explorer_cell and "<img" in explorer_cell, \
        "the executed explorer cell does not show the static figure"
