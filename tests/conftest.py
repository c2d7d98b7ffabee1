"""Shared test helpers."""

import matplotlib

matplotlib.use("Agg")  # tests never open windows

# Crafted submissions for the grader's tests are data, not notebooks to run.
collect_ignore_glob = ["grading/fixtures/*"]
