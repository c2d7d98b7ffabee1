"""The checks graded cells call: verdicts and messages."""

import linecache

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import LSTMCell as AliasedCell

from course_lib import cells
from course_lib.grading.checks import (
    CheckFailed,
    check_close,
    check_equal,
    check_from_scratch,
    check_shape,
    relative_error,
)


def test_relative_error_on_known_values():
    assert relative_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert relative_error([1.0], [3.0]) == pytest.approx(0.5)
    assert relative_error(torch.tensor([0.0]), torch.tensor([0.0])) == 0.0


def test_check_close_passes_and_returns_the_error():
    assert check_close("x", torch.tensor([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]), rtol=1e-8) < 1e-9


def test_check_close_names_the_worst_entry():
    got = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    expected = torch.tensor([[1.0, 2.0], [3.0, 5.0]])
    with pytest.raises(CheckFailed) as failure:
        check_close("dL/dW", got, expected, rtol=1e-8)
    message = str(failure.value)
    assert "dL/dW is wrong: relative error 1.1e-01 (allowed 1e-08)" in message
    assert "index (1, 1): got 4, expected 5" in message


def test_check_close_explains_shape_none_and_nan():
    with pytest.raises(CheckFailed, match=r"has shape \(3,\); expected \(2,\)"):
        check_close("h", torch.zeros(3), torch.zeros(2))
    with pytest.raises(CheckFailed, match="did the function `return`"):
        check_close("h", None, torch.zeros(2))
    with pytest.raises(CheckFailed, match="NaN"):
        check_close("h", torch.tensor([float("nan")]), torch.zeros(1))


def test_check_shape_and_equal():
    check_shape("h", torch.zeros(2, 3), (2, 3))
    with pytest.raises(CheckFailed, match=r"shape \(3, 2\); expected \(2, 3\)"):
        check_shape("h", torch.zeros(3, 2), (2, 3))
    with pytest.raises(CheckFailed, match="expected 68700, got 68600"):
        check_equal("GRU parameters", 68600, 68700)


# -- from scratch ---------------------------------------------------------------------------------------


def honest_lstm_step(x, h, c, W, U, b):
    i, f, g, o = (x @ W.T + h @ U.T + b).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def shortcut_via_nn(x, h, c, W, U, b):
    cell = nn.LSTMCell(x.shape[1], h.shape[1])
    return cell(x, (h, c))


def shortcut_via_full_path(x, h, c, W, U, b):
    return torch.nn.LSTMCell(x.shape[1], h.shape[1])(x, (h, c))


def shortcut_via_alias(x, h, c, W, U, b):
    return AliasedCell(x.shape[1], h.shape[1])(x, (h, c))


def shortcut_via_course_lib(x, h, c, W, U, b):
    return cells.LSTMCell(x.shape[1], h.shape[1])(x, (h, c))


def shortcut_via_aten(x, h, c, W, U, b):
    return torch.lstm_cell(x, (h, c), W, U, b, None)


def shortcut_via_local_import(x, h, c, W, U, b):
    import torch.nn as N
    return N.LSTMCell(3, 4)(x, (h, c))


class HonestCell(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.Linear(3, 16)  # an attribute merely *named* lstm is fine

    def forward(self, x):
        return torch.tanh(self.lstm(x))


class ShortcutCell(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.GRUCell(3, 4)


def test_honest_code_passes():
    check_from_scratch(honest_lstm_step)
    check_from_scratch(HonestCell)


@pytest.mark.parametrize("shortcut", [shortcut_via_nn, shortcut_via_full_path, shortcut_via_alias,
                                      shortcut_via_course_lib, shortcut_via_aten, shortcut_via_local_import,
                                      ShortcutCell])
def test_library_shortcuts_are_caught_with_a_message(shortcut):
    with pytest.raises(CheckFailed, match="library version of what this exercise asks you to write"):
        check_from_scratch(shortcut)


def test_check_close_result_is_not_read_as_partial_credit():
    # nbgrader turns a test cell's numeric last value into points; ours must not look numeric.
    error = check_close("x", torch.tensor([1.0]), torch.tensor([1.0]))
    assert repr(error) == "relative error 0.0e+00" and f"{error:.1e}" == "0.0e+00"
    with pytest.raises(ValueError):
        float(repr(error))


def define_like_a_notebook(code: str, name: str):
    """Run code the way IPython runs a cell: a pseudo file name in linecache, a module that has no file."""
    filename = f"<cell {name}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    namespace = {"__name__": "notebook_without_file", "nn": nn, "torch": torch}
    exec(compile(code, filename, "exec"), namespace)
    return namespace[name]


def test_a_class_defined_in_a_notebook_is_checked_method_by_method():
    honest = define_like_a_notebook(
        "class Honest(nn.Module):\n    def forward(self, x):\n        return torch.tanh(x)\n", "Honest")
    cheat = define_like_a_notebook(
        "class Cheat(nn.Module):\n    def forward(self, x):\n        return nn.LSTMCell(3, 4)(x)\n", "Cheat")
    heir = define_like_a_notebook("class Heir(nn.LSTMCell):\n    pass\n", "Heir")
    check_from_scratch(honest)
    with pytest.raises(CheckFailed, match="uses `nn.LSTMCell`"):
        check_from_scratch(cheat)
    with pytest.raises(CheckFailed, match="inherits from torch.nn.modules.rnn.LSTMCell"):
        check_from_scratch(heir)
