"""`course grade --scheduler`: the same grading on a real Dask cluster started here on 127.0.0.1.

A scheduler and two worker processes (`dask scheduler`, `dask worker`, as an instructor would
start them) grade params submissions: the grades.csv must be byte-for-byte the local one, the
sandbox must run on the workers, and a worker killed while it grades a submission must cost a
retry on the other worker, not the batch.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import distributed  # dask[distributed], in requirements.txt
import pytest

from course_lib import cli
from course_lib.grading.grade import grade_class
from crafting import REPO, Crafting, edit, write_batch


PARAMS = Crafting("params")
ARGS = ["--timeout", "60", "--notebook-timeout", "120", "--memory", "3072"]
SLOW = "import time\ntime.sleep(12)\n"  # long enough to be killed mid-submission


# The instructor's secrets, not the folder: a venv made inside the repository (as the README's commands
# make it) is mounted at its own path, so the folder exists in the sandbox, holding that venv only.
SECRETS = [str(REPO / name) for name in ("grader", "solutions", "tests")]
PEEK = f"import os\nprint('repository', 'VISIBLE' if any(map(os.path.exists, {SECRETS!r})) else 'hidden')\n"


def batch():
    slow = edit(PARAMS.correct(), "linear_params", before=SLOW)
    peek = edit(PARAMS.correct(), "linear_params", before=PEEK)  # says in its feedback what it could see
    return {"correct": (PARAMS.correct(), None, ""), "blank": (PARAMS.blank(), None, ""),
            "slow_correct": (slow, None, ""), "peek": (peek, None, "")}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scheduler and two single-thread workers (no nanny: a killed worker stays dead)."""
    logs = tmp_path_factory.mktemp("dask-logs")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    started = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port",
                                 str(port), "--dashboard-address", ":0", "--no-show"], env=env,
                                stdout=open(logs / "scheduler.log", "w"), stderr=subprocess.STDOUT,
                                start_new_session=True)]
    for name in ("a", "b"):
        started.append(subprocess.Popen([sys.executable, "-m", "dask", "worker", address, "--nthreads", "1",
                                         "--no-nanny", "--name", name, "--host", "127.0.0.1",
                                         "--dashboard-address", ":0", "--local-directory", str(logs / name)],
                                        env=env, stdout=open(logs / f"{name}.log", "w"), stderr=subprocess.STDOUT,
                                        start_new_session=True))
    client = distributed.Client(address, timeout=60)
    client.wait_for_workers(2, timeout=120)
    yield {"address": address, "client": client, "logs": logs}
    client.close()
    for process in started:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    work = tmp_path_factory.mktemp("local")
    submitted = write_batch(batch(), work / "submitted")
    output = work / "graded"
    grade_class("params", submitted, output, jobs=2)
    return submitted, output


def test_a_cluster_gives_exactly_the_local_grades(cluster, local, tmp_path):
    submitted, local_output = local
    output = tmp_path / "graded"
    assert cli.main(["grade", "params", str(submitted), "--output", str(output), "--scheduler",
                     cluster["address"], *ARGS]) == 0
    assert (output / "grades.csv").read_text() == (local_output / "grades.csv").read_text()
    table = (output / "grades.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in table[1:]] == ["blank", "correct", "peek", "slow_correct"]
    assert [line.split(",")[-3] for line in table[1:]] == ["0", "19", "19", "19"]
    assert "Dask cluster at " + cluster["address"] in (output / "summary.txt").read_text()
    assert sorted(p.name for p in (output / "feedback").glob("*.html")) == \
        ["blank.html", "correct.html", "peek.html", "slow_correct.html"]
    # the submission ran in the sandbox on a worker: the repository did not exist for it
    page = (output / "feedback" / "peek.html").read_text()
    assert "repository hidden" in page and "repository VISIBLE" not in page


def test_every_worker_builds_the_sandbox(cluster):
    from course_lib.grading.isolation import probe

    assert cluster["client"].run(probe) == {w: "" for w in cluster["client"].scheduler_info()["workers"]}


def test_course_regenerate_runs_each_chapter_on_a_worker(cluster, tmp_path):
    import json

    import nbformat

    from course_lib.regenerate import main as regenerate

    setup = "from course_lib.results import report, check_targets"
    chapters = {"good": [setup, "report('accuracy', 0.75, at_least=0.5)", "check_targets()"],
                "broken": [setup, "report('first', 1.0)", "raise RuntimeError('the data set is missing')"]}
    for chapter, cells in chapters.items():
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        (tmp_path / "solutions" / chapter).mkdir(parents=True)
        nbformat.write(notebook, tmp_path / "solutions" / chapter / f"{chapter}.ipynb")
    output = tmp_path / "out"
    assert regenerate(["--course", str(tmp_path), "--output", str(output), "--profile", "smoke", "--quiet",
                       "--scheduler", cluster["address"], "--timeout", "300"]) == 1  # broken fails
    results = json.loads((output / "results.json").read_text())["chapters"]
    assert {name: entry["status"] for name, entry in results.items()} == {"broken": "failed", "good": "ok"}
    assert [(f["name"], f["value"], f["met"]) for f in results["good"]["figures"]] == [("accuracy", 0.75, True)]
    assert "the data set is missing" in results["broken"]["error"]
    assert (output / "good" / "good.ipynb").is_file() and (output / "broken" / "regenerate.log").is_file()


def test_a_worker_killed_mid_submission_costs_a_retry_not_the_batch(cluster, local, tmp_path):
    submitted, local_output = local
    client = cluster["client"]
    output = tmp_path / "graded"
    outcome = {}
    grading = threading.Thread(target=lambda: outcome.setdefault("code", cli.main(
        ["grade", "params", str(submitted), "--output", str(output), "--scheduler", cluster["address"], *ARGS])))
    grading.start()
    victim = None
    deadline = time.monotonic() + 180
    pids = client.run(os.getpid)  # {worker address: its process id}
    while victim is None and time.monotonic() < deadline:  # a worker grading a submission
        busy = [worker for worker, keys in client.processing().items()
                if any("prepare_one" in str(key) for key in keys)]
        if busy:
            victim = pids[busy[0]]
        time.sleep(0.2)
    assert victim is not None, "no worker was seen grading"
    time.sleep(2)  # inside the submission's sandbox now
    os.kill(victim, signal.SIGKILL)
    grading.join(timeout=600)
    assert outcome.get("code") == 0
    assert (output / "grades.csv").read_text() == (local_output / "grades.csv").read_text()
    assert len(client.scheduler_info()["workers"]) == 1  # the other worker finished the batch

