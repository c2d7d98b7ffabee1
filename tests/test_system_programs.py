"""The ``needs_program`` marker (tests/conftest.py): skipped where the program is missing, failed in CI."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

MARKED = '''
import pytest

@pytest.mark.needs_program("Nothing", lambda: None, "apt-get install nothing")
def test_missing():
    pass

@pytest.mark.needs_program("Python", lambda: "/usr/bin/python3", "apt-get install python3")
def test_present():
    pass
'''


@pytest.mark.parametrize("ci", [None, "true"])
def test_a_missing_program_skips_the_test_outside_ci_and_fails_it_in_ci(tmp_path, ci):
    (tmp_path / "test_marked.py").write_text(MARKED)
    env = {key: value for key, value in os.environ.items() if key != "CI"}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(TESTS.parent)])  # tests/conftest.py as a plugin
    if ci:
        env["CI"] = ci
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-rs", "-q",
                           "--rootdir", str(tmp_path), str(tmp_path / "test_marked.py")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    message = "needs Nothing, which the README's commands do not install: apt-get install nothing"
    if ci:
        assert done.returncode == 1 and "1 passed, 1 error" in done.stdout
        assert f"{message}. CI installs it (.ci/run): its absence is a failure here." in done.stdout
    else:
        assert done.returncode == 0 and "1 passed, 1 skipped" in done.stdout
        assert "SKIPPED [1] " in done.stdout and message in done.stdout
