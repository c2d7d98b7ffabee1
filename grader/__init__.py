"""The instructor's half of each chapter's checks: hidden cases and reference implementations.

``grader/<chapter>.py`` defines ``HIDDEN = {check name: [Case, ...]}`` for the checks of
``course_lib/checks/<chapter>.py``. Only the trusted grader imports these modules (by path, from
the course folder it grades for); they are never mounted into a sandbox and never shipped to
students (the student release leaves this folder out).
"""
