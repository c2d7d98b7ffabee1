"""`course regenerate` on a small course of its own: statuses, figures, figures kept, timeouts, exit codes."""

import json
import os

import nbformat
import psutil
import pytest

from course_lib.regenerate import main

SETUP = "from course_lib.results import report, check_targets\nimport matplotlib.pyplot as plt"

CHAPTERS = {
    # A chapter that meets its target and draws a figure.
    "good": [SETUP, "plt.plot([1, 2, 3])\nplt.show()", "report('accuracy', 0.75, at_least=0.5)",
             "report('parameters', 91_600)", "check_targets()"],
    # One that runs to the end but misses a target: every figure is still reported.
    "short": [SETUP, "report('valid perplexity', 130.5, at_most=120.7)", "report('test perplexity', 125.0)",
              "check_targets()"],
    # One whose code breaks after a first figure.
    "broken": [SETUP, "report('first', 1.0)", "raise RuntimeError('the data set is missing')"],
    # One that runs past the chapter's time limit after a first figure.
    "slow": [SETUP, "report('before the long cell', 2.0)",
             "import os, time\nopen('kernel.pid', 'w').write(str(os.getpid()))\n"
             "print('inside the long cell', flush=True)\ntime.sleep(600)"],
}


def write_course(root):
    for chapter, cells in CHAPTERS.items():
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        (root / "solutions" / chapter).mkdir(parents=True)
        nbformat.write(notebook, root / "solutions" / chapter / f"{chapter}.ipynb")


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    write_course(root)
    output = root / "out"
    code = main(["--course", str(root), "--output", str(output), "--profile", "smoke", "--jobs", "2",
                 "--timeout", "90", "--quiet"])
    return root, output, code


def test_exit_code_and_statuses(regenerated):
    _, output, code = regenerated
    assert code == 1
    chapters = json.loads((output / "results.json").read_text())["chapters"]
    assert {name: entry["status"] for name, entry in chapters.items()} == {
        "broken": "failed", "good": "ok", "short": "missed target", "slow": "failed"}
    assert "the data set is missing" in chapters["broken"]["error"]
    assert "time limit of 90 s" in chapters["slow"]["error"]
    assert 90 <= chapters["slow"]["wall_seconds"] < 150
    # the cells it finished before the limit are kept with their outputs, and so is what the cell
    # that was running had printed when it was stopped
    kept = nbformat.read(output / "slow" / "slow.ipynb", as_version=4)
    assert [bool(cell.get("outputs")) for cell in kept.cells] == [False, True, True]
    assert "before the long cell" in kept.cells[1].outputs[0]["text"]
    assert kept.cells[2].outputs[0]["text"] == "inside the long cell\n"
    assert not (output / "slow" / "slow.partial").exists()


def test_a_stopped_chapter_leaves_no_kernel_running(regenerated):
    root, _, _ = regenerated
    kernel = int((root / "solutions" / "slow" / "kernel.pid").read_text())
    try:
        assert psutil.Process(kernel).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        pass


def test_figures_and_run_description(regenerated):
    _, output, _ = regenerated
    chapters = json.loads((output / "results.json").read_text())["chapters"]
    good = chapters["good"]
    assert (good["profile"], good["device"]) == ("smoke", "CPU")
    assert [(f["name"], f["value"], f["target"], f["met"]) for f in good["figures"]] == [
        ("accuracy", 0.75, ">= 0.5000", True), ("parameters", 91600.0, None, None)]
    assert [(f["name"], f["met"]) for f in chapters["short"]["figures"]] == [
        ("valid perplexity", False), ("test perplexity", None)]
    # Chapters that died keep what they had reported.
    assert [f["name"] for f in chapters["broken"]["figures"]] == ["first"]
    assert [f["name"] for f in chapters["slow"]["figures"]] == ["before the long cell"]


def test_executed_notebooks_keep_their_figures(regenerated):
    # The test session runs with MPLBACKEND=Agg, which would keep no figure at all.
    _, output, _ = regenerated
    executed = nbformat.read(output / "good" / "good.ipynb", as_version=4)
    outputs = [o for cell in executed.cells for o in cell.outputs]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert any("accuracy: 0.7500  (target >= 0.5000: met)" in o.get("text", "") for o in outputs)
    broken = nbformat.read(output / "broken" / "broken.ipynb", as_version=4)
    assert broken.cells[2].outputs[-1]["ename"] == "RuntimeError"


def test_a_rerun_of_one_chapter_keeps_the_others(regenerated, capsys):
    root, output, _ = regenerated
    code = main(["good", "--course", str(root), "--output", str(output), "--profile", "smoke", "--quiet"])
    assert code == 0  # only the chapters asked for decide the exit code
    chapters = json.loads((output / "results.json").read_text())["chapters"]
    assert sorted(chapters) == ["broken", "good", "short", "slow"]
    assert "good  [ok]  smoke on CPU" in capsys.readouterr().out


def test_unknown_chapter_is_named(tmp_path, capsys):
    write_course(tmp_path)
    assert main(["nonesuch", "--course", str(tmp_path), "--output", str(tmp_path / "o")]) == 2
    assert "no chapter nonesuch; the chapters are: broken, good, short, slow" in capsys.readouterr().err


def test_book_tables_come_from_the_results_files(tmp_path):
    from course_lib.regenerate import write_book_tables

    write_course(tmp_path)
    entry = {"chapter": "good", "profile": "full", "device": "NVIDIA H200", "threads": 16, "cpu_count": 16,
             "torch": "2.11.0", "wall_seconds": 312.0, "status": "missed target", "finished": "2026-11-26 05:00:00",
             "figures": [{"name": "LSTM test accuracy", "value": 0.8912, "unit": "", "target": ">= 0.8900", "met": True},
                         {"name": "valid loss", "value": 1.47, "unit": "nats/char", "target": "<= 1.4500", "met": False},
                         {"name": "parameters", "value": 91600.0, "unit": "", "target": None, "met": None}]}
    (tmp_path / "results" / "full").mkdir(parents=True)
    (tmp_path / "results" / "full" / "results.json").write_text(json.dumps({"chapters": {"good": entry}}))
    written = write_book_tables(tmp_path)
    assert sorted(path.name for path in written) == ["broken.md", "good.md", "short.md", "slow.md"]
    assert (tmp_path / "book" / "results" / "good.md").read_text().splitlines()[2:] == [
        "**`full` profile** on NVIDIA H200, torch 2.11.0, 5.2 minutes for the whole notebook (**missed target**), "
        "2026-11-26:",
        "",
        "| figure | value | target |",
        "|---|---:|---|",
        "| LSTM test accuracy | 0.8912 | >= 0.8900 met |",
        "| valid loss | 1.4700 nats/char | <= 1.4500 **missed** |",
        "| parameters | 91,600 |  |",
        "",
        "**`cpu` profile:** not regenerated yet (`course regenerate good --profile cpu`).",
    ]
    entry.update(status="failed", error="stopped after the time limit of 285 s; see results/full/good/regenerate.log")
    (tmp_path / "results" / "full" / "results.json").write_text(json.dumps({"chapters": {"good": entry}}))
    write_book_tables(tmp_path)
    assert (tmp_path / "book" / "results" / "good.md").read_text().splitlines()[2] == (
        "**`full` profile** on NVIDIA H200, torch 2.11.0, **failed** after 5.2 minutes (stopped after the time "
        "limit of 285 s), the figures it reached, 2026-11-26:")


def test_the_idle_cores_are_shared_out_once_before_the_chapters_start(tmp_path, monkeypatch):
    # Chapters run one after another would otherwise each see the previous one in the load average.
    from course_lib import config, regenerate as regenerate_module

    seen = []

    def fake_run_chapter(root, chapter, profile, output, timeout, threads):
        seen.append((chapter, threads))
        monkeypatch.setattr(os, "getloadavg", lambda: (2.0, 2.0, 2.0))  # the chapter that just ran
        return {"chapter": chapter, "status": "ok", "wall_seconds": 1.0}

    monkeypatch.setattr(regenerate_module, "run_chapter", fake_run_chapter)
    monkeypatch.setattr(config, "physical_cores", lambda: 8)
    monkeypatch.setattr(config, "usable_cpus", lambda: 8)
    monkeypatch.delenv("COURSE_THREADS", raising=False)
    for jobs, expected in ((1, 8), (4, 2)):
        seen.clear()
        monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
        regenerate_module.regenerate(tmp_path, ["a", "b", "c"], "smoke", tmp_path / f"out{jobs}", jobs=jobs,
                                     progress=False)
        assert sorted(seen) == [("a", expected), ("b", expected), ("c", expected)]
    # COURSE_THREADS set by the caller reaches every chapter unchanged (run_chapter passes the environment on)
    monkeypatch.setenv("COURSE_THREADS", "3")
    seen.clear()
    regenerate_module.regenerate(tmp_path, ["a"], "smoke", tmp_path / "out-env", progress=False)
    assert seen == [("a", None)]
