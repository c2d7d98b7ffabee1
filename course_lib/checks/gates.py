"""Checks of the gates chapter (an LSTM's gates by hand, how often a gate saturates), the student half.

``lstm_gates`` is compared with the course's ``LSTMCell`` (two biases, the same i, f, g, o layout
as ``torch.nn.LSTM``) unrolled over the same input with ``return_gates=True``; when it disagrees,
the same reference run on altered weights tells which typical slip it is (the blocks read as
i, f, o, g, one of the two biases left out, tanh(c) returned as the cell). ``saturation_fraction``
is checked on hand-made values and on a fixed tiny LSTM, against the numbers the chapter prints;
the hidden cases compare with the instructor's reference in ``grader/gates.py``.

Request: ``lstm`` builds a ``torch.nn.LSTM`` with the grader's weights inside the sandbox and
calls ``lstm_gates`` on it.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib import cells
from course_lib.checks.base import Case, Check, seeded
from course_lib.checks.rules import ForbiddenRule
from course_lib.grading.checks import FORBIDDEN_FOR_CELLS, CheckFailed, check_close

FROM_SCRATCH = ForbiddenRule(FORBIDDEN_FOR_CELLS + ("cells.LSTMCell", "cells.unroll", "record_gates", "cell_from_torch"),
                             "Compute the gates from the LSTM's weights with tensor operations.")
GATES = ("input", "forget", "candidate", "output", "cell")
WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
DTYPE = torch.float64


# -- lstm_gates ------------------------------------------------------------------------------------------
def perform_lstm(request: dict, function):
    """``function(lstm, x)`` with a torch.nn.LSTM holding the request's weights (in the sandbox)."""
    I, H = request["sizes"]
    lstm = nn.LSTM(int(I), int(H), batch_first=True).to(DTYPE)
    with torch.no_grad():
        for name, value in request["parameters"].items():
            getattr(lstm, f"{name}_l0").copy_(value)
        return function(lstm, request["x"])


def lstm_problem(I, H, B, T, seed):
    """Seeded torch.nn.LSTM weights {weight_ih, ...} (float64) and an input x: (B, T, I)."""
    def make():
        lstm = nn.LSTM(I, H, batch_first=True).to(DTYPE)
        return {name: getattr(lstm, f"{name}_l0").detach().clone() for name in WEIGHTS}, torch.randn(B, T, I, dtype=DTYPE)

    return seeded(seed, make)


def course_gates(parameters, x):
    """{gate: (B, T, H)} of the course's LSTMCell with these weights (two biases), c_t as "cell"."""
    I, H = x.shape[2], parameters["weight_hh"].shape[1]
    cell = cells.LSTMCell(I, H, num_biases=2).to(DTYPE)
    with torch.no_grad():
        for name, value in parameters.items():
            getattr(cell, name).copy_(value)
        return cells.unroll(cell, x, return_gates=True)[2]


def swap_g_and_o(tensor):
    i, f, g, o = tensor.chunk(4, dim=0)
    return torch.cat([i, f, o, g])


def mistaken_gates(parameters, x):
    """What lstm_gates returns after each typical slip, with the advice for it."""
    reference = course_gates(parameters, x)
    swapped = course_gates({name: swap_g_and_o(value) for name, value in parameters.items()}, x)
    return [
        ("the weight blocks are read in the order i, f, o, g: torch.nn.LSTM stacks them as i, f, g, o "
         "(rows 2H:3H are the candidate g, rows 3H:4H the output gate o)", swapped),
        ("only bias_ih_l0 is added: every gate takes both biases, bias_ih_l0 + bias_hh_l0",
         course_gates({**parameters, "bias_hh": torch.zeros_like(parameters["bias_hh"])}, x)),
        ("only bias_hh_l0 is added: every gate takes both biases, bias_ih_l0 + bias_hh_l0",
         course_gates({**parameters, "bias_ih": torch.zeros_like(parameters["bias_ih"])}, x)),
        ('"cell" holds tanh(c_t): return the cell state c_t itself', {**reference, "cell": torch.tanh(reference["cell"])}),
    ]


def agrees(got: dict, expected: dict, rtol: float = 1e-6) -> bool:
    for name in GATES:
        try:
            check_close(name, got.get(name), expected[name], rtol=rtol)
        except (CheckFailed, TypeError, ValueError):
            return False
    return True


class LstmGatesCheck(Check):
    """lstm_gates against the course's LSTMCell with the same weights: ``case.args`` = (I, H, B, T, seed)."""

    name, target, op, rule = "gates.lstm_gates", "lstm_gates", "gates.lstm", FROM_SCRATCH

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return self._cases

    def label(self, case):
        I, H, B, T, _ = case.args
        return case.label or f"I={I}, H={H}, B={B}, T={T}"

    def request(self, case):
        parameters, x = lstm_problem(*case.args)
        return {"op": self.op, "target": self.target, "sizes": list(case.args[:2]), "parameters": parameters, "x": x}

    def expected(self, case):
        parameters, x = lstm_problem(*case.args)
        return {"gates": course_gates(parameters, x), "mistakes": mistaken_gates(parameters, x)}

    def compare(self, case, got, expected):
        if not isinstance(got, dict):
            raise CheckFailed(f"lstm_gates must return a dict of gates; got a {type(got).__name__}.")
        I, H, B, T, _ = case.args
        for name in GATES:
            if name not in got:
                raise CheckFailed(f"lstm_gates returned no {name!r} entry (keys: {sorted(got)}).")
            value = got[name]
            if not isinstance(value, torch.Tensor) or tuple(value.shape) != (B, T, H):
                found = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise CheckFailed(f"gate {name!r} ({self.label(case)}) should have shape {(B, T, H)}; got {found}.")
        if agrees(got, expected["gates"], rtol=1e-9):
            return
        for advice, gates in expected["mistakes"]:
            if agrees(got, gates):
                raise CheckFailed(f"lstm_gates ({self.label(case)}): {advice}.")
        for name in GATES:
            check_close(f"gate {name!r} ({self.label(case)})", got[name], expected["gates"][name], rtol=1e-9)

    def summary(self, count):
        return f"lstm_gates matches the course's LSTMCell gate by gate ({count} cases, relative error < 1e-9)"


# -- saturation_fraction ---------------------------------------------------------------------------------
def tiny_model_gates(seed, I=3, H=4, lengths=(7, 5)):
    """A small LSTMCell with large weights (so that some gates saturate) run over a fixed batch:
    ({gate: (B, T, H)}, mask (B, T)), as the notebook's tiny_model_gates."""
    def make():
        cell = cells.LSTMCell(I, H)
        with torch.no_grad():
            for parameter in cell.parameters():
                parameter.mul_(4.0)
        steps = torch.tensor(lengths)
        x = torch.randn(len(lengths), int(steps.max()), I)
        with torch.no_grad():
            gates = cells.unroll(cell, x, steps, return_gates=True)[2]
        return gates, cells.lengths_to_mask(steps, int(steps.max()))

    return seeded(seed, make)


def tiny_model_cases(seed, known=None, thresholds=({},), **sizes):
    """One case per sigmoid gate of the tiny model (and per ``thresholds``); ``known``: published values."""
    gates, mask = tiny_model_gates(seed, **sizes)
    return [Case((gates[name], mask), kwargs, label=f"saturation of the tiny model's {name} gate{describe(kwargs)}",
                 context={"known": known[name]} if known else {})
            for name in ("input", "forget", "output") for kwargs in thresholds]


def describe(kwargs):
    return " with " + ", ".join(f"{k}={v}" for k, v in kwargs.items()) if kwargs else ""


HAND_ACTIVATIONS = torch.tensor([[[0.95, 0.5], [0.05, 0.5], [0.5, 0.99]],
                                 [[0.91, 0.02], [0.99, 0.99], [0.01, 0.01]]])  # the last step of row 1 is padding
HAND_MASK = torch.tensor([[True, True, True], [True, True, False]])
TINY_MODEL = {"input": [6 / 12, 3 / 12, 1 / 12, 0.0], "forget": [5 / 12, 2 / 12, 0.0, 2 / 12],
              "output": [8 / 12, 1 / 12, 6 / 12, 3 / 12]}  # 12 real steps: 7 + 5


class SaturationCheck(Check):
    """saturation_fraction against published values (visible) or ``reference`` (the grader's, hidden
    cases): ``case.args`` = (activations (B, T, H), mask (B, T)), ``case.kwargs`` = low/high."""

    name, target = "gates.saturation_fraction", "saturation_fraction"

    def __init__(self, cases, reference=None):
        self._cases, self.reference = cases, reference

    def visible_cases(self):
        return self._cases

    def label(self, case):
        return case.label or f"saturation_fraction{describe(case.kwargs)}"

    def expected(self, case):
        if "known" in case.context:
            return torch.tensor(case.context["known"], dtype=torch.float64)
        return self.reference(*case.args, **case.kwargs)

    def compare(self, case, got, expected):
        units = expected.shape[0]
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != (units,):
            found = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise CheckFailed(f"{self.label(case)} should be one fraction per unit, shape {(units,)}; got {found}"
                              + (": average over the real steps only, not over the units." if found == () else "."))
        try:
            check_close(self.label(case), got, expected, rtol=1e-5 if "known" in case.context else 1e-6)
        except CheckFailed as failure:
            raise CheckFailed(f"{failure}\n  Count only the real steps (mask True), in the numerator and in the "
                              "denominator, and compare strictly (> high, < low).") from None

    def summary(self, count):
        return f"saturation_fraction is right on the hand-made values and the tiny model ({count} cases)"


def build_checks(reference=None) -> dict[str, Check]:
    """The chapter's checks; ``reference`` (the grader's saturation_fraction) serves the hidden cases."""
    saturation = SaturationCheck(
        [Case((HAND_ACTIVATIONS, HAND_MASK), label="saturation_fraction on the hand-made values",
              context={"known": [4 / 5, 3 / 5]}),
         Case((HAND_ACTIVATIONS, HAND_MASK), {"low": 0.2, "high": 0.6}, context={"known": [4 / 5, 3 / 5]},
              label="saturation_fraction with low=0.2, high=0.6")]
        + tiny_model_cases(0, TINY_MODEL), reference)
    return {check.name: check for check in [LstmGatesCheck([Case((3, 4, 2, 5, 0))]), saturation]}


CHECKS = build_checks()

# requests this chapter defines (see course_lib.checks.base.chapter_op)
OPS = {"lstm": perform_lstm}
