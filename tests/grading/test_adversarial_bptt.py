"""The bptt chapter graded through `course grade` in one batch of crafted submissions (see
adversarial_bptt.py): exact points per cell."""

import pytest

from course_lib.grading.isolation import bubblewrap
from adversarial_bptt import BATCH
from crafting import assert_row, grade_batch

pytestmark = pytest.mark.needs_program("bubblewrap", bubblewrap, "apt-get install bubblewrap")


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    return grade_batch("bptt", BATCH, tmp_path_factory.mktemp("adversarial-bptt"),
                       "--jobs", "2", "--timeout", "30", "--notebook-timeout", "120")


@pytest.mark.parametrize("name", sorted(BATCH))
def test_each_submission_gets_exactly_the_points_it_earned(batch, name):
    assert_row(BATCH, batch["rows"], name)


def test_the_autograd_shortcut_is_named_in_feedback(batch):
    page = (batch["output"] / "feedback" / "autograd_backward.html").read_text()
    assert "rnn_backward uses `.backward`" in page or "rnn_backward uses `.requires_grad_`" in page


#: Runs in the feedback page: MathJax's result, from the copy beside the page (no network here).
TYPESET = r"""
if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
return {typeset: document.querySelectorAll('mjx-container').length,
        errors: [...document.querySelectorAll('mjx-merror')].map(e => e.textContent),
        scripts: [...document.scripts].map(s => s.src).filter(src => src)};
"""


def test_feedback_renders_its_math_offline_in_a_browser(batch, tmp_path):
    from chromium_cdp import INSTALL_HINT, Chromium, find_chromium

    executable = find_chromium()
    assert executable, INSTALL_HINT
    page = batch["output"] / "feedback" / "correct.html"
    assert "$" in page.read_text(), "the correct submission's written answer should hold math"
    with Chromium(executable, tmp_path / "profile") as browser:
        report = browser.visit(page.as_uri(), TYPESET)
    assert not report.errors, report.errors
    assert report.checks["typeset"] > 0 and not report.checks["errors"], report.checks
    assert all(src.startswith("file://") for src in report.checks["scripts"]), report.checks["scripts"]
