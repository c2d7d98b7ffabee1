"""Shared test helpers, and the ``needs_program`` marker.

A test that needs a system program the README's commands do not install (Chromium for the book's
browser test, bubblewrap for the grading sandbox) is marked
``@pytest.mark.needs_program(NAME, FINDER, HOW_TO_INSTALL)``, FINDER returning the program's path or
None. Where the program is missing the test is skipped with that hint -- except in CI (``CI`` set,
as .ci/run runs), which installs them: there a missing program is a failure.
"""

import os

import matplotlib
import pytest

matplotlib.use("Agg")  # tests never open windows

# Crafted submissions for the grader's tests are data, not notebooks to run.
collect_ignore_glob = ["grading/fixtures/*"]


def pytest_configure(config):
    config.addinivalue_line("markers", "needs_program(name, finder, install): the test needs a system program "
                            "the README's commands do not install; skipped where missing, failed in CI")


def pytest_runtest_setup(item):
    for mark in item.iter_markers("needs_program"):
        name, finder, install = mark.args
        if finder():
            continue
        message = f"needs {name}, which the README's commands do not install: {install}"
        if os.environ.get("CI"):
            pytest.fail(f"{message}. CI installs it (.ci/run): its absence is a failure here.", pytrace=False)
        pytest.skip(message)
