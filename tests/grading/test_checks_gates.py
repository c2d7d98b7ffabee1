"""The gates chapter's checks without a sandbox: the solution passes, typical mistakes get their message."""

import pytest
import torch

from course_lib.checks import find_check
from course_lib.checks.base import perform
from course_lib.grading import wire
from course_lib.grading.checks import CheckFailed
from grader.gates import CHECKS, HIDDEN


def gates_of(lstm, x, order="ifgo", biases=("ih", "hh"), cell=lambda c: c):
    H = lstm.hidden_size
    B, T, _ = x.shape
    bias = sum(getattr(lstm, f"bias_{which}_l0") for which in biases)
    h, c = x.new_zeros(B, H), x.new_zeros(B, H)
    steps = {name: [] for name in ("input", "forget", "candidate", "output", "cell")}
    for t in range(T):
        blocks = dict(zip(order, (x[:, t] @ lstm.weight_ih_l0.T + bias + h @ lstm.weight_hh_l0.T).split(H, dim=-1)))
        i, f, g, o = torch.sigmoid(blocks["i"]), torch.sigmoid(blocks["f"]), torch.tanh(blocks["g"]), torch.sigmoid(blocks["o"])
        c = f * c + i * g
        h = o * torch.tanh(c)
        for name, value in zip(steps, (i, f, g, o, cell(c))):
            steps[name].append(value)
    return {name: torch.stack(values, dim=1) for name, values in steps.items()}


def saturation_fraction(activations, mask, low=0.1, high=0.9):
    saturated = (activations > high) | (activations < low)
    real = mask[:, :, None]
    return (saturated & real).sum(dim=(0, 1)).float() / real.sum()


def saturation_over_padding(activations, mask, low=0.1, high=0.9):
    return ((activations > high) | (activations < low)).float().mean(dim=(0, 1))


def saturation_over_all_units(activations, mask, low=0.1, high=0.9):
    return saturation_fraction(activations, mask, low, high).mean()


def run_cases(name, obj, cases):
    """The cases through the wire as the grader sends them, with the grader's checks, the rule left
    aside (the functions here are not named as in the notebook)."""
    check = CHECKS[name]
    for case in cases:
        request = wire.loads(wire.dumps(wire.encode(check.request(case))))
        got = wire.loads(wire.dumps(wire.encode(perform(request, obj))))
        check.compare(case, got, check.expected(case))


@pytest.mark.parametrize("name, obj", [("gates.lstm_gates", gates_of), ("gates.saturation_fraction", saturation_fraction)])
def test_the_solution_passes_the_visible_and_hidden_cases(name, obj):
    run_cases(name, obj, find_check(name).visible_cases() + HIDDEN[name])


def saturation_default_thresholds(activations, mask, low=0.1, high=0.9):
    return saturation_fraction(activations, mask)


def test_thresholds_left_at_their_defaults_pass_the_visible_cases_only():
    run_cases("gates.saturation_fraction", saturation_default_thresholds, find_check("gates.saturation_fraction").visible_cases())
    with pytest.raises(CheckFailed, match="with low=0.3, high=0.8"):
        run_cases("gates.saturation_fraction", saturation_default_thresholds, HIDDEN["gates.saturation_fraction"])


@pytest.mark.parametrize("name, obj, message", [
    ("gates.lstm_gates", lambda lstm, x: gates_of(lstm, x, order="ifog"), "torch.nn.LSTM stacks them as i, f, g, o"),
    ("gates.lstm_gates", lambda lstm, x: gates_of(lstm, x, biases=("ih",)), "only bias_ih_l0 is added"),
    ("gates.lstm_gates", lambda lstm, x: gates_of(lstm, x, biases=("hh",)), "only bias_hh_l0 is added"),
    ("gates.lstm_gates", lambda lstm, x: gates_of(lstm, x, cell=torch.tanh), "return the cell state c_t itself"),
    ("gates.lstm_gates", lambda lstm, x: {k: v for k, v in gates_of(lstm, x).items() if k != "cell"},
     "lstm_gates returned no 'cell' entry"),
    ("gates.saturation_fraction", saturation_over_padding, "Count only the real steps (mask True)"),
    ("gates.saturation_fraction", saturation_over_all_units, "got (): average over the real steps only, not over the units"),
])
def test_typical_mistakes_are_named(name, obj, message):
    with pytest.raises(CheckFailed) as failure:
        run_cases(name, obj, find_check(name).visible_cases())
    assert message in str(failure.value)


def test_the_library_and_the_notebooks_helpers_are_ruled_out():
    rule = find_check("gates.lstm_gates").rule
    for body in ("record_gates(lstm, x)[0]", "cells.unroll(cell_of(lstm), x, return_gates=True)[2]",
                 "torch.lstm(x, (h, c), weights, True, 1, 0.0, False, False, True)"):
        assert "which this exercise rules out" in rule.judge_sources([f"def lstm_gates(lstm, x):\n    return {body}\n"],
                                                                      "lstm_gates")
