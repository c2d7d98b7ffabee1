"""The `course` command: help lists the commands, `info` reports the setup."""

import re
import subprocess
import sys

import torch

from course_lib import cli


def test_help_lists_the_commands(capsys):
    assert cli.main([]) == 2  # no command: show the help, exit non-zero
    assert "info" in capsys.readouterr().out


def test_info_reports_versions_profile_and_data_dir(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert cli.main(["info"]) == 0
    # each line is "name<padding>value", names padded to one width with at least two spaces
    lines = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in capsys.readouterr().out.splitlines())
    assert lines["jupyter-book"] == "1.0.4.post1"
    assert lines["torch"] == torch.__version__
    assert lines["nbgrader"] == "0.9.6"
    assert lines["nbval"] == "0.11.0"
    assert lines["profile"] == "smoke"
    assert lines["device"].startswith("cuda" if torch.cuda.is_available() else "cpu")
    assert lines["data directory"] == f"{tmp_path} (exists)"


def test_info_survives_a_bad_profile(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "turbo")
    assert cli.main(["info"]) == 0
    assert "INVALID" in capsys.readouterr().out


def test_the_console_script_is_installed():
    done = subprocess.run([sys.executable, "-m", "course_lib.cli", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    assert "usage: course" in done.stdout
