"""Root pytest configuration, shared by tests/ and the solution notebooks that nbval collects.

Notebooks run with COURSE_PROFILE=smoke unless the caller chose a profile, so that
`pytest --nbval-lax solutions/` is a quick check by default and
`COURSE_PROFILE=full pytest --nbval-lax solutions/` the full-size run on a GPU.
The notebook kernels inherit this process's environment.

Data: when the run includes tests or notebooks that read the real data sets, whatever is missing is
downloaded once before they start, through the course's own downloader (verified, with progress
bars), so a fresh machine with internet needs no preparation. ``COURSE_OFFLINE=1`` (CI, whose
``COURSE_DATA_DIR`` holds every data set) forbids that; ``COURSE_DATA_MIRROR`` points it elsewhere.
"""

import os

os.environ.setdefault("COURSE_PROFILE", "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")

#: Tests and notebooks under these paths read the real data sets.
DATA_READERS = ("solutions/", "tests/data/", "tests/notebooks/")


def pytest_collection_modifyitems(session, config, items):
    """Fetch the data sets the collected tests read, before any of them runs."""
    if not any(item.nodeid.startswith(DATA_READERS) for item in items):
        return
    from course_lib.data.download import REGISTRY, DataNotFoundError, ensure, offline

    if offline():
        return  # each loader says what is missing, where to put it
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():  # show the progress bars
        for name in REGISTRY:
            try:
                ensure(name)
            except DataNotFoundError as error:  # the tests that need it fail with the same message
                print(f"\nconftest.py: {error}")
