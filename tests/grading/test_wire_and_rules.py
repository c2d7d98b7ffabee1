"""The grader's trusted side on its own: decoding what a sandbox sends, and from-scratch rules on source."""

import base64
import json

import numpy as np
import pytest
import torch

from course_lib.checks import find_check
from course_lib.checks.params import CHECKS
from course_lib.checks.rules import FormulaRule, ForbiddenRule
from course_lib.grading import wire
from course_lib.grading.checks import CheckFailed


def line(value) -> bytes:
    return wire.dumps(wire.encode({"v": value}))


def test_values_cross_the_wire_as_data():
    value = {"t": torch.arange(6, dtype=torch.float32).reshape(2, 3), "shape": (3, 4), "n": 5, "x": float("nan"),
             "scalar": torch.tensor(2.5, dtype=torch.float64),
             "a": np.array([1, 2], dtype=np.int64), "ok": True, "none": None}
    back = wire.loads(line(value))["v"]
    assert torch.equal(back["t"], value["t"]) and back["t"].dtype == torch.float32
    assert back["shape"] == (3, 4) and back["n"] == 5 and back["x"] != back["x"]
    assert back["a"].tolist() == [1, 2] and back["ok"] is True and back["none"] is None
    assert back["scalar"].shape == () and back["scalar"].item() == 2.5
    assert repr(wire.loads(line(object()))["v"]) == "<a object object>"


@pytest.mark.parametrize("hostile, why", [
    (b"[" * 100_000 + b"]" * 100_000, "not a JSON line"),
    (json.dumps({"__tensor__": "float64", "shape": [2, 2], "data": base64.b64encode(b"x" * 8).decode()}).encode(),
     "needs 32 bytes; got 8"),
    (json.dumps({"__tensor__": "object", "shape": [1], "data": ""}).encode(), "unknown tensor encoding"),
    (json.dumps({"__tensor__": "uint8", "shape": [10**9], "data": ""}).encode(), "shape must be"),
    (json.dumps({"__reduce__": "os.system"}).encode(), "unknown tagged object"),
    (json.dumps(list(range(wire.MAX_ITEMS + 1))).encode(), "more than"),
    (b"\xff\xfe", "not a JSON line"),
    (("[" * 30 + "1" + "]" * 30).encode(), "nested more than"),
])
def test_hostile_messages_are_refused(hostile, why):
    with pytest.raises(wire.WireError, match=why):
        wire.loads(hostile)


def test_an_oversized_line_is_refused_before_parsing():
    with pytest.raises(wire.WireError, match="longer than"):
        wire.loads(b" " * (wire.MAX_LINE_BYTES + 1))


FORMULA = "def count(i, o, bias=True):\n    return i * o + (o if bias else 0)\n"


@pytest.mark.parametrize("sources, problem", [
    ([FORMULA], ""),
    ([FORMULA, "def total(i, o):\n    return count(i, o) + 1\n"], ""),
    (["from torch import nn\ndef count(i, o, bias=True):\n    return sum(p.numel() for p in nn.Linear(i, o).parameters())"],
     "count calls `.numel`"),
    (["def count(i, o, bias=True):\n    return helper(i, o)\n", "def helper(i, o):\n    return int(torch.tensor(i * o))"],
     "helper uses `torch`"),
    ([FORMULA, "count = lambda *a: 0"], "defined or assigned 2 times"),
    (['exec("def count(i, o, bias=True):\\n    return i * o")'], "uses `exec`"),
    ([FORMULA, "vars()['x'] = 1"], "uses `vars`"),
    ([FORMULA, "import importlib"], "uses `import importlib`"),
    ([FORMULA, "f = count.__code__"], "uses `.__code__`"),
    (["x = 1"], "count is not defined with `def`"),
    (["def count(i, o):\n    raise NotImplementedError()\n"], ""),
])
def test_formula_rule_reads_the_source(sources, problem):
    result = FormulaRule().judge_sources(sources, "count")
    assert (problem in result) if problem else result == ""


def test_forbidden_rule_sees_aliases_and_base_classes():
    rule = ForbiddenRule(("torch.nn.LSTMCell", "course_lib.cells"), "Write it from the equations.")
    assert "uses `nn.LSTMCell`" in rule.judge_sources(["class C:\n    def f(self):\n        return nn.LSTMCell(1, 2)"], "C")
    assert "course_lib.cells" in rule.judge_sources(["class C:\n    from course_lib.cells import LSTMCell as L\n"], "C")
    assert rule.judge_sources(["class C:\n    def f(self, x):\n        return x @ x.T"], "C") == ""


def test_a_200000_term_answer_is_judged_without_crashing_the_grader():
    bomb = "x = " + "+".join(["1"] * 200_000)
    assert "not defined" in FormulaRule().judge_sources([bomb], "count")


def test_visible_check_messages_say_what_was_expected():
    def lstm_params(input_size, hidden_size, num_biases=1, num_layers=1):
        return 3 * (input_size * hidden_size + hidden_size ** 2 + num_biases * hidden_size)

    with pytest.raises(CheckFailed, match=r"lstm_params\(128, 100\): expected 91,600, got 68,700"):
        CHECKS["params.lstm_params"].run_visible(lstm_params)
    with pytest.raises(KeyError, match="no check 'params.nothing'"):
        find_check("params.nothing")
