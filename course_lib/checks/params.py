"""Checks of the params chapter (parameter counts), the student half: visible cases and messages.

Every expected value comes from a real module (``torch.nn``, ``course_lib.cells``) or a number
printed in the chapter, never from a reference formula, so this file gives no answer away. The
instructor's hidden cases (other sizes and seeds) are in ``grader/params.py``, which students do
not get; the grader runs both through the same ``expected`` and ``compare`` below.
"""

from __future__ import annotations

import numbers

import torch
from torch import nn

from course_lib import cells
from course_lib.checks.base import Case, Check
from course_lib.checks.rules import FormulaRule
from course_lib.grading.checks import CheckFailed, check_equal
from course_lib.params import count_parameters

FORMULA = FormulaRule()


def check_count(what: str, got, expected: int, **units: int) -> None:
    """``got`` must be the integer ``expected``. On a miss, the message says by how much and, where
    the difference is a small multiple of one of the named ``units`` (H=..., H²=...), which one."""
    if isinstance(got, float) and got.is_integer():
        got = int(got)
    if isinstance(got, bool) or not isinstance(got, numbers.Integral):
        raise CheckFailed(f"{what} should be an int (a number of parameters); got {got!r} "
                          f"({type(got).__name__}). Did the function `return` its count?")
    if got != expected:
        difference = got - expected
        hints = [f" = {difference // size:+d}·{unit}" for unit, size in units.items()
                 if size > 1 and difference % size == 0 and 0 < abs(difference // size) <= 8]
        raise CheckFailed(f"{what}: expected {expected:,}, got {got:,} "
                          f"(off by {difference:+,}{hints[0] if hints else ''}).")


def recurrent_units(input_size: int, hidden_size: int) -> dict[str, int]:
    """The blocks a recurrent count is made of, to name in a failure message."""
    return {"H²": hidden_size ** 2, "I·H": input_size * hidden_size, "H": hidden_size}


def recurrent_cases(sizes, biases=(0, 1, 2), **extra) -> list[Case]:
    """Every (I, H, layers) size with every bias count; ``extra`` keyword arguments for every case."""
    return [Case((I, H), {"num_biases": b, "num_layers": L, **extra}) for I, H, L in sizes for b in biases]


class CountCheck(Check):
    """A count function against ``count_parameters`` of the module(s) it counts."""

    rule = FORMULA
    known: tuple = ()  # (args, kwargs, count printed in the chapter)

    def __init__(self, target: str, cases: list[Case]):
        self.name, self.target, self._cases = f"params.{target}", target, cases

    def visible_cases(self) -> list[Case]:
        known = [Case(tuple(a), dict(k), context={"known": n}) for a, k, n in self.known]
        return known + self._cases

    def build(self, *args, **kwargs) -> nn.Module:
        raise NotImplementedError

    def units(self, case: Case) -> dict[str, int]:
        return {}

    def expected(self, case: Case) -> int:
        if "known" in case.context:
            return case.context["known"]
        context = {k: v for k, v in case.context.items() if k != "known"}
        return count_parameters(self.build(*case.args, **case.kwargs, **context))

    def compare(self, case: Case, got, expected) -> None:
        check_count(self.label(case), got, expected, **self.units(case))


class LinearCount(CountCheck):
    known = (((100, 2), {}, 202),)

    def build(self, in_features, out_features, bias=True):
        return nn.Linear(in_features, out_features, bias=bias)


class ConvCount(CountCheck):
    """Conv2d's count, whatever its stride and padding (given to the module, not to the student)."""

    known = (((3, 100, 3), {}, 2_800),)

    def build(self, in_channels, out_channels, kernel_size, bias=True, stride=2, padding=1):
        return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias)


class RecurrentCount(CountCheck):
    """A recurrent stack: torch.nn's (two biases or none) or the course's (any number of biases)."""

    def __init__(self, target, cases, torch_class=None, course_cell=None, **cell_options):
        super().__init__(target, cases)
        self.torch_class, self.course_cell, self.cell_options = torch_class, course_cell, cell_options

    def build(self, I, H, num_biases=1, num_layers=1, **more):
        if self.torch_class is not None and num_biases in (0, 2) and not more and not self.cell_options:
            return self.torch_class(I, H, num_layers=num_layers, bias=num_biases == 2)
        return cells.Recurrent(self.course_cell, I, H, num_layers=num_layers, num_biases=num_biases,
                               **self.cell_options, **more)

    def units(self, case):
        return recurrent_units(*case.args[:2])


class LstmWithOutputCount(CountCheck):
    known = (((128, 100, 2), {}, 91_802),)

    def build(self, I, H, O):
        return nn.Sequential(cells.LSTMCell(I, H), nn.Linear(H, O))


class TorchLstmExtra(CountCheck):
    known = (((200, 200), {}, 800),)

    def build(self, I, H, num_layers=1):
        raise AssertionError("expected() computes the difference itself")

    def expected(self, case):
        if "known" in case.context:
            return case.context["known"]
        I, H = case.args
        L = case.kwargs.get("num_layers", 1)
        return (count_parameters(nn.LSTM(I, H, num_layers=L))
                - count_parameters(cells.Recurrent(cells.LSTMCell, I, H, num_layers=L)))

    def units(self, case):
        return {"H": case.args[1]}


class StackedConvCount(CountCheck):
    known = (((3, [100, 200, 400], 3), {}, 903_400),)

    def build(self, in_channels, feature_maps, kernel_size=3):
        channels = [in_channels, *feature_maps]
        return nn.Sequential(*[nn.Conv2d(c_in, c_out, kernel_size, stride=2, padding=kernel_size // 2)
                               for c_in, c_out in zip(channels, channels[1:])])


class SentimentCount(CountCheck):
    known = (((20_000, 128, 100, 2), {}, 2_652_202),)

    def build(self, V, E, H, C, num_biases=2):
        recurrent = nn.LSTM(E, H) if num_biases == 2 else cells.LSTMCell(E, H, num_biases=num_biases)
        return nn.ModuleList([nn.Embedding(V, E, padding_idx=0), recurrent, nn.Linear(H, C)])


class ConvOutputSize(CountCheck):
    """conv_output_size against torch.nn.Conv1d's output length (shapes only, no data)."""

    def __init__(self, target, cases):
        super().__init__(target, cases)

    def expected(self, case):
        size, kernel_size, stride, padding = case.args
        conv = nn.Conv1d(1, 1, kernel_size, stride=stride, padding=padding, device="meta")
        return conv(torch.zeros(1, 1, size, device="meta")).shape[-1]


def as_shapes(got):
    """A list of shapes as tuples of ints (lists accepted); anything else unchanged."""
    if isinstance(got, (list, tuple)) and all(isinstance(shape, (list, tuple)) for shape in got):
        if all(isinstance(n, numbers.Integral) and not isinstance(n, bool) for shape in got for n in shape):
            return [tuple(int(n) for n in shape) for shape in got]
    return got


class ActivationShapes(Check):
    """same_activation_shapes against a stack of SAME-padded convolutions on the meta device."""

    name, target, rule = "params.same_activation_shapes", "same_activation_shapes", FORMULA

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return [Case(((3, 200, 300), [100, 200, 400]), context={"known": [(100, 100, 150), (200, 50, 75), (400, 25, 38)]})
                ] + self._cases

    def expected(self, case):
        if "known" in case.context:
            return case.context["known"]
        image_shape, feature_maps = case.args[:2]
        kernel_size, stride = case.kwargs.get("kernel_size", 3), case.kwargs.get("stride", 2)
        x, shapes, channels = torch.zeros(1, *image_shape, device="meta"), [], image_shape[0]
        for maps in feature_maps:
            x = nn.Conv2d(channels, maps, kernel_size, stride=stride, padding=kernel_size // 2, device="meta")(x)
            shapes.append(tuple(x.shape[1:]))
            channels = maps
        return shapes

    def compare(self, case, got, expected):
        check_equal(self.label(case), as_shapes(got), expected)

    def summary(self, count):
        return "same_activation_shapes agrees with torch.nn.Conv2d"


class SentimentModel(Check):
    """SentimentLSTM's parameters (as shapes: counted here) and the shape of its logits."""

    name, target, op = "params.sentiment_model", "SentimentLSTM", "module"

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return self._cases

    def label(self, case):
        return f"SentimentLSTM{case.args}"

    def expected(self, case):
        V, E, H, C = case.args
        count = (count_parameters(nn.Embedding(V, E)) + count_parameters(nn.LSTM(E, H))
                 + count_parameters(nn.Linear(H, C)))
        batch = case.calls[0][1][0].shape[0]
        return {"count": count, "logits": (batch, C), "H": H, "E": E}

    def compare(self, case, got, expected):
        if not (isinstance(got, dict) and isinstance(got.get("parameters"), dict) and isinstance(got.get("results"), list)):
            raise CheckFailed(f"{self.label(case)} could not be built and called.")
        count = 0
        for shape in got["parameters"].values():
            if not (isinstance(shape, tuple) and all(isinstance(n, int) and not isinstance(n, bool) for n in shape)):
                raise CheckFailed(f"{self.label(case)}: a parameter has no shape.")
            size = 1
            for n in shape:
                size *= n
            count += size
        check_count(f"count_parameters({self.label(case)})", count, expected["count"], H=expected["H"], E=expected["E"])
        logits = got["results"][0] if got["results"] else None
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else None
        if shape != expected["logits"]:
            ids = case.calls[0][1][0]
            raise CheckFailed(f"{self.label(case)} on ids of shape {tuple(ids.shape)} should give logits of shape "
                              f"{expected['logits']}; got {shape if shape is not None else type(logits).__name__}.")

    def summary(self, count):
        return "SentimentLSTM has the expected layers and output shape"


def sentiment_case(V, E, H, C, B, T, seed) -> Case:
    generator = torch.Generator().manual_seed(seed)
    return Case((V, E, H, C), seed=seed, calls=(("forward", (torch.randint(0, V, (B, T), generator=generator),)),))


CHECKS = {check.name: check for check in [
    LinearCount("linear_params", [Case((100, 2)), Case((128, 100), {"bias": False}), Case((7, 3), {"bias": True})]),
    ConvCount("conv2d_params", [Case((3, 100, 3)), Case((100, 200, 3), {"bias": False}), Case((2, 5, (3, 1))),
                                Case((4, 6, (1, 5)), {"bias": False})]),
    RecurrentCount("elman_params", recurrent_cases([(128, 100, 1), (128, 100, 2)], biases=(0, 2))
                   + recurrent_cases([(128, 100, 1), (5, 3, 3)]), nn.RNN, cells.ElmanCell),
    RecurrentCount("lstm_params", [Case((128, 100), context={"known": 91_600}),
                                   Case((200, 200), context={"known": 320_800})]
                   + recurrent_cases([(200, 200, 1), (128, 100, 2)], biases=(0, 2))
                   + recurrent_cases([(128, 100, 1), (5, 3, 3)]), nn.LSTM, cells.LSTMCell),
    RecurrentCount("gru_params", [Case((128, 100), context={"known": 68_700})]
                   + recurrent_cases([(128, 100, 1), (128, 100, 2)], biases=(0, 2))
                   + recurrent_cases([(128, 100, 1), (5, 3, 3)]), nn.GRU, cells.GRUCell),
    RecurrentCount("coupled_lstm_params", [Case((128, 100), context={"known": 68_700})]
                   + recurrent_cases([(128, 100, 1), (5, 3, 3)]), None, cells.CoupledLSTMCell),
    RecurrentCount("peephole_lstm_params", [Case((128, 100), {"peephole": "full"}, context={"known": 121_600})]
                   + [c for kind in ("full", "diagonal") for c in recurrent_cases([(128, 100, 1), (5, 3, 3)], peephole=kind)],
                   None, cells.PeepholeLSTMCell),
    LstmWithOutputCount("lstm_with_output_params", [Case((128, 100, 2)), Case((50, 73, 65))]),
    TorchLstmExtra("torch_lstm_extra", [Case((200, 200), {"num_layers": 1}), Case((128, 100), {"num_layers": 2})]),
    StackedConvCount("stacked_conv_params", [Case((3, [100, 200, 400], 3)), Case((1, [4, 8], 5))]),
    ConvOutputSize("conv_output_size", [Case(c) for c in [(200, 3, 2, 1), (300, 3, 2, 1), (75, 3, 2, 1),
                                                          (32, 5, 1, 0), (10, 4, 3, 2)]]),
    ActivationShapes([Case(((3, 200, 300), [100, 200, 400])),
                      Case(((1, 28, 28), [8, 16]), {"kernel_size": 5, "stride": 1})]),
    SentimentModel([sentiment_case(20_000, 128, 100, 2, B=4, T=7, seed=0)]),
    SentimentCount("sentiment_params", [Case((20_000, 128, 100, 2)), Case((20_000, 128, 100, 2), {"num_biases": 1})]),
]}
