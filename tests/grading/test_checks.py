"""The checks graded cells call: verdicts and messages."""

import inspect
import linecache
import re

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import LSTMCell as AliasedCell

from course_lib import cells
from course_lib.checks import bptt as bptt_checks
from course_lib.grading.checks import (
    CheckFailed,
    check_close,
    check_equal,
    check_from_scratch,
    check_shape,
    relative_error,
)
from local_checks import LocalChapter


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


# -- bptt: the expected values come from torch.nn.RNN and autograd, not from the exercise's loop -------------
BPTT = LocalChapter("bptt")
#: What the notebook gives the answers (its non-graded cells): the helpers the exercises call.
BPTT_GIVEN = ("from course_lib.checks.bptt import scalar_gru_step, state_step\n"
              "from torch.autograd.functional import jacobian\n")


def bptt_answers(replacements=None) -> dict[str, str]:
    return {"given": BPTT_GIVEN, **BPTT.edited(replacements)}


@pytest.mark.parametrize("name", sorted(bptt_checks.CHECKS))
def test_bptt_the_solution_passes_every_case_visible_and_hidden(name):
    result = BPTT.verdict(name, bptt_answers())
    assert result.passed, result.message


def test_bptt_the_visible_checks_pass_in_the_students_kernel():
    namespace = BPTT.run(bptt_answers())
    assert bptt_checks.CHECKS["bptt.rnn_forward"].run_visible(namespace["rnn_forward"]).startswith("rnn_forward matches")
    assert bptt_checks.CHECKS["bptt.jacobian_norms"].run_visible(namespace["jacobian_norms"]).startswith(
        "jacobian_norms agrees")


@pytest.mark.parametrize("name, replacements, message", [
    ("rnn_forward", {"rnn_forward": ('h @ params["W_hh"].T', 'h @ params["W_hh"]')}, "hs (B=2, T=5, I=3, H=4, K=3) is wrong"),
    ("rnn_forward", {"rnn_forward": ("torch.stack(probs, dim=1), loss", "torch.stack(probs, dim=1), loss / (B * T)")},
     "loss (B=2, T=5, I=3, H=4, K=3) is wrong"),
    ("jacobian_norms", {"jacobian_norms": ("matrix_norm(product[:H], ord=2)", "matrix_norm(product, ord=2)")},
     "||dh_T/ds_t|| for a LSTMCell (T=5, I=2, H=3) is wrong"),
])
def test_bptt_the_visible_checks_fail_a_wrong_answer_with_its_message(name, replacements, message):
    function = BPTT.run(bptt_answers(replacements))[name]
    with pytest.raises(CheckFailed, match=re.escape(message)):
        bptt_checks.CHECKS[f"bptt.{name}"].run_visible(function)
    assert message.split(" (")[0] in BPTT.verdict(f"bptt.{name}", bptt_answers(replacements)).message


def test_bptt_reference_forward_is_torch_nn_rnn_and_matches_the_chapters_equations():
    x, y, h0, params = bptt_checks.make_rnn_problem(7, 3, 6, 4, 5, 3)
    hs, probs, loss = bptt_checks.reference_forward(x, y, h0, params)
    h = h0
    for t in range(x.shape[1]):  # h_t = tanh(W_hx x_t + W_hh h_{t-1} + b_h), p_t = softmax(W_ph h_t + b_p)
        h = torch.tanh(x[:, t] @ params["W_hx"].T + h @ params["W_hh"].T + params["b_h"])
        assert torch.allclose(hs[:, t], h, rtol=1e-12, atol=1e-14)
    probabilities = torch.softmax(hs @ params["W_ph"].T + params["b_p"], dim=-1)
    assert torch.allclose(probs, probabilities, rtol=1e-12, atol=1e-14)
    assert torch.allclose(loss, -probabilities.gather(-1, y[..., None]).log().sum(), rtol=1e-12)
    assert "torch.tanh(" not in inspect.getsource(bptt_checks.reference_forward)  # not the exercise's loop
