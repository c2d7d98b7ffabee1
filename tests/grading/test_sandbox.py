"""The sandbox and the batch around it, on their own: refusal without bubblewrap, the unsandboxed
oracle, and a grader killed mid-batch."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course_lib.grading import grade, isolation
from course_lib.grading.grade import GradingRefused, grade_class
from course_lib.grading.isolation import Sandbox, SandboxLimits
from crafting import REPO, Crafting, write_batch


def test_without_bubblewrap_course_grade_refuses_and_names_the_flag(tmp_path, monkeypatch):
    monkeypatch.setattr(isolation, "bubblewrap", lambda: None)
    (tmp_path / "subs").mkdir()
    with pytest.raises(GradingRefused) as refused:
        grade_class("params", tmp_path / "subs", tmp_path / "out")
    message = str(refused.value)
    assert "bubblewrap (`bwrap`) is not installed" in message and "--no-sandbox" in message
    assert "can read and change every file you can" in message


def test_the_oracle_answers_calls_as_data_and_drops_what_they_print():
    with Sandbox(SandboxLimits(cell_timeout=20), isolated=False) as box:
        box.send({"cells": [{"index": 3, "source": "def f(n):\n    print('noise')\n    return list(range(n))"}],
                  "cell_timeout": 20, "limits": {}})
        assert box.receive(time.monotonic() + 60) == {"cell": 3, "stdout": "", "error": None}
        assert box.receive(time.monotonic() + 60) == {"ready": True}
        box.send({"id": 7, "op": "call", "target": "f", "args": [3]})
        assert box.receive(time.monotonic() + 60) == {"id": 7, "ok": True, "value": [0, 1, 2]}


@pytest.mark.needs_program("bubblewrap", isolation.bubblewrap, "apt-get install bubblewrap")
def test_a_killed_grader_leaves_its_rows_and_a_rerun_finishes_the_batch(tmp_path):
    params = Crafting("params")
    batch = {f"student{k}": (params.correct() if k % 2 else params.blank(), None, None) for k in range(6)}
    submitted = write_batch(batch, tmp_path / "submitted")
    output = tmp_path / "out"
    command = [sys.executable, "-m", "course_lib.cli", "grade", "params", str(submitted), "--output", str(output),
               "--jobs", "1", "--timeout", "30"]
    process = subprocess.Popen(command, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=dict(os.environ, PYTHONPATH=str(REPO)))
    rows = output / "rows.jsonl"
    deadline = time.monotonic() + 600
    while not (rows.is_file() and rows.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = [json.loads(line)["entry"] for line in rows.read_text().splitlines()]
    assert 1 <= len(finished) < 6
    assert len((output / "grades.csv").read_text().splitlines()) == 1 + len(finished)
    grades = grade_class("params", submitted, output, limits=grade.Limits(cell_timeout=30))
    assert len(grades) == 6 and len(rows.read_text().splitlines()) == 6  # the finished ones were not redone
    assert sorted(g.total for g in grades) == [0, 0, 0, 19, 19, 19]
    assert not (output / ".work").exists()
    shutil.rmtree(output)
