"""Headline figures: report, targets, check_targets and the results file regenerate reads."""

import json
import math

import pytest

from course_lib import results
from course_lib.results import Figure, TargetMissed, check_targets, read_results_file, report


@pytest.fixture(autouse=True)
def fresh_reports(monkeypatch):
    monkeypatch.setattr(results, "_reported", [])
    monkeypatch.delenv(results.RESULTS_FILE_VARIABLE, raising=False)


def test_targets_met_and_missed():
    assert Figure("a", 0.9, at_least=0.89).met is True
    assert Figure("a", 0.88, at_least=0.89).met is False
    assert Figure("ppl", 120.7, at_most=120.7).met is True
    assert Figure("ppl", 100.0, below=100).met is False
    assert Figure("ppl", 99.99, below=100).met is True
    assert Figure("count", 68_700, equals=68_700).met is True
    assert Figure("count", 68_701, equals=68_700).met is False
    assert Figure("free", 3.0).met is None and Figure("free", 3.0).target is None
    assert Figure("nan", math.nan, at_most=1.0).met is False  # a diverged run never meets a target
    assert Figure("a", 0.9, at_least=0.89).target == ">= 0.8900"
    assert Figure("count", 68_700, equals=68_700).target == "== 68,700"


def test_report_prints_and_check_targets_lists_every_miss(capsys):
    report("LSTM test accuracy", 0.9012, at_least=0.89)
    report("GRU test accuracy", 0.84, at_least=0.85)
    report("valid perplexity", 130.25, at_most=120.7)
    report("parameters", 91_600)
    out = capsys.readouterr().out.splitlines()
    assert out == ["LSTM test accuracy: 0.9012  (target >= 0.8900: met)",
                   "GRU test accuracy: 0.8400  (target >= 0.8500: MISSED)",
                   "valid perplexity: 130.2  (target <= 120.7: MISSED)",
                   "parameters: 91,600"]
    with pytest.raises(TargetMissed) as missed:
        check_targets()
    message = str(missed.value)
    assert message.startswith("2 of 3 targets of the")
    assert "GRU test accuracy" in message and "valid perplexity" in message
    assert "LSTM test accuracy" not in message


def test_check_targets_passes_when_all_met(capsys):
    report("a", 1.0, at_least=0.5)
    report("b", 2.0)
    check_targets()
    assert capsys.readouterr().out.splitlines()[-1].startswith("all 1 targets of the")


def test_report_rejects_two_bounds_and_non_numbers():
    with pytest.raises(ValueError, match="at most one"):
        report("x", 1.0, at_least=0.5, at_most=2.0)
    with pytest.raises(TypeError, match="needs a number"):
        report("x", "0.9")  # a formatted string instead of the number
    import torch

    report("tensor", torch.tensor(0.25))
    assert results.reported()[-1].value == 0.25


def test_results_file_has_the_run_then_every_figure(tmp_path, monkeypatch):
    path = tmp_path / "deep" / "figures.jsonl"
    monkeypatch.setenv(results.RESULTS_FILE_VARIABLE, str(path))
    monkeypatch.setenv("COURSE_PROFILE", "cpu")
    report("accuracy", 0.875, at_least=0.85)
    report("loss", 1.5, unit="nats/char")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 3
    assert lines[0]["run"]["profile"] == "cpu" and lines[0]["run"]["device"] == "CPU"
    assert len(lines[1]["figure"].pop("time")) == 8  # HH:MM:SS: when the figure came, for timing a run
    assert lines[1]["figure"] == {"name": "accuracy", "value": 0.875, "at_least": 0.85, "at_most": None,
                                  "below": None, "equals": None, "unit": "", "target": ">= 0.8500", "met": True}
    assert lines[2]["figure"]["unit"] == "nats/char" and lines[2]["figure"]["met"] is None
    with path.open("a") as stream:
        stream.write('{"figure": {"name": "cut off mid-wri')  # a process killed while writing
    run, figures = read_results_file(path)
    assert run["profile"] == "cpu"
    assert [figure["name"] for figure in figures] == ["accuracy", "loss"]
    assert read_results_file(tmp_path / "absent.jsonl") == ({}, [])


def test_counts_print_whole_and_fractions_with_four_decimals(capsys):
    import numpy as np
    import torch

    report("distinct valid sentences", 45)
    report("steps to 0.99", np.int64(800))
    report("unseen numbers", torch.tensor(448))
    report("accuracy", 1.0)
    report("accuracy of a tensor", torch.tensor(0.5))
    report("parameters", 121_600.0)
    assert capsys.readouterr().out.splitlines() == [
        "distinct valid sentences: 45", "steps to 0.99: 800", "unseen numbers: 448", "accuracy: 1.0000",
        "accuracy of a tensor: 0.5000", "parameters: 121,600"]
    assert [type(figure.value) for figure in results.reported()[-6:]] == [int, int, int, float, float, float]
