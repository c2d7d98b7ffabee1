"""Checks of the cells chapter (recurrent cells from scratch), the student half.

Expected values come from ``torch.nn`` (LSTMCell, GRUCell, LSTM, GRU, RNN), from
``course_lib.cells`` (the course's own cells, shipped to students anyway) and from outputs printed
in the chapter for fixed parameters; gradients are checked against central differences of the
student's own cell. The probes that tell a student which gate is wrong shift one gate's bias in
both cells. Hidden cases and the reference implementations of the textbook GRU, the peephole and
the coupled LSTM are in ``grader/cells.py``.

Requests: ``cell`` builds the student's cell class, loads parameters and runs it (one step per
run, or a sequence carrying its own state; optionally with gradients); ``unroll`` calls the
student's ``unroll`` with a cell of ``course_lib.cells`` behind the notebook's interface.
"""

from __future__ import annotations

import torch
from torch import nn

from course_lib import cells as library
from course_lib.checks.base import Case, Check, seeded
from course_lib.checks.rules import ForbiddenRule
from course_lib.grading.checks import FORBIDDEN_FOR_CELLS, CheckFailed, check_close

TOLERANCE = 1e-6          # largest |yours - reference| allowed in float32
SHUT, OPEN = -40.0, 40.0  # bias shifts that drive a sigmoid gate to 0 or to 1
FROM_SCRATCH = ForbiddenRule(FORBIDDEN_FOR_CELLS + ("library_cells", "LibraryCell"),
                             "Derive it from `Cell` and write it from the equations with tensor operations.")


# -- what the sandbox does for a request (see course_lib.checks.base.perform) -----------------------
def _state_parts(state) -> tuple:
    return tuple(state) if isinstance(state, (tuple, list)) else (state,)


def perform_cell(request: dict, cell_class):
    """Build the student's cell, then for each run load its parameters and step it."""
    dtype = getattr(torch, request.get("dtype", "float32"))
    cell = cell_class(*request.get("args", []), **request.get("kwargs", {})).to(dtype)
    results = []
    for run in request["runs"]:
        with torch.no_grad():
            for name, value in run["parameters"].items():
                cell.get_parameter(name).copy_(value)
        if "sequence" in run:
            x, state = run["sequence"]
            outputs = []
            for t in range(x.shape[1]):
                state = cell(x[:, t], state)
                outputs.append(state)
            results.append(outputs)
        elif "weights" in run:  # the loss sum(w * output) and its gradients, for a gradient check
            leaves = [t.detach().clone().requires_grad_(True) for t in (run["inputs"][0], *_state_parts(run["inputs"][1]))]
            state = tuple(leaves[1:]) if len(leaves) > 2 else leaves[1]
            output = _state_parts(cell(leaves[0], state))
            loss = sum((w * o).sum() for w, o in zip(run["weights"], output))
            names = [name for name, _ in cell.named_parameters()]
            grads = torch.autograd.grad(loss, leaves + [cell.get_parameter(n) for n in names], allow_unused=True)
            results.append({"loss": loss.item(), "inputs": list(grads[:len(leaves)]),
                            "parameters": dict(zip(names, grads[len(leaves):]))})
        else:
            with torch.no_grad():
                results.append(cell(*run["inputs"]))
    return results


class LibraryCell(nn.Module):
    """A course_lib.cells cell behind the notebook's interface, forward(x, state) -> state."""

    def __init__(self, cell):
        super().__init__()
        self.cell = cell
        self.input_size, self.hidden_size = cell.input_size, cell.hidden_size
        self.has_cell_state = cell.has_cell_state

    def init_state(self, batch_size, like=None):
        return self.cell.init_state(batch_size, like=like)

    def forward(self, x, state):
        return self.cell(x, state)[1]


LIBRARY_CELLS = {"LSTMCell": library.LSTMCell, "GRUCell": library.GRUCell, "ElmanCell": library.ElmanCell,
                 "PeepholeLSTMCell": library.PeepholeLSTMCell}


def library_cell(spec: dict):
    """A course_lib.cells cell from ``{"type", "args", "kwargs", "parameters"}``."""
    cell = LIBRARY_CELLS[spec["type"]](*spec["args"], **spec.get("kwargs", {}))
    with torch.no_grad():
        for name, value in spec["parameters"].items():
            cell.get_parameter(name).copy_(value)
    return cell


def perform_unroll(request: dict, unroll):
    return unroll(LibraryCell(library_cell(request["cell"])), request["x"], **request.get("kwargs", {}))


# -- shared by the checks -------------------------------------------------------------------------------
def bias_shift(shifts, hidden_size, num_gates, dtype=torch.float32):
    """A (G*H,) vector holding ``shifts[k]`` on the rows of gate block k, zero elsewhere."""
    shift = torch.zeros(num_gates * hidden_size, dtype=dtype)
    for gate, value in (shifts or {}).items():
        shift[gate * hidden_size:(gate + 1) * hidden_size] = value
    return shift


def close(got, expected, tolerance=TOLERANCE) -> bool:
    return (isinstance(got, torch.Tensor) and got.shape == expected.shape and bool(torch.isfinite(got).all())
            and (got.double() - expected.double()).abs().max().item() <= tolerance)


def difference(name, got, expected, tolerance=TOLERANCE) -> str:
    try:
        check_close(name, got, expected, rtol=tolerance, atol=tolerance)
    except CheckFailed as error:
        return str(error)
    return f"{name} is within tolerance"


def as_pair(result, who):
    """An LSTM-like forward must return (h, c), two tensors."""
    if not (isinstance(result, (tuple, list)) and len(result) == 2 and all(isinstance(p, torch.Tensor) for p in result)):
        raise CheckFailed(f"{who}.forward must return the pair (h, c) of tensors; got {type(result).__name__}.")
    return tuple(result)


def as_tensor(result, who):
    """A GRU-like forward must return the new h, one tensor."""
    if not isinstance(result, torch.Tensor):
        raise CheckFailed(f"{who}.forward must return the new h, a tensor; got {type(result).__name__}.")
    return result


def check_shapes(name, parts, batch, hidden):
    for part, value in zip(("h_t", "c_t"), parts):
        if tuple(value.shape) != (batch, hidden):
            raise CheckFailed(f"{name}: {part} has shape {tuple(value.shape)}; expected {(batch, hidden)}.")


def deterministic(shape, offset, dtype=torch.float64):
    """Fixed values 0.9 sin(1.37 k + offset), k = 0, 1, ... (no random generator)."""
    count = 1
    for n in shape:
        count *= n
    return (0.9 * torch.sin(1.37 * torch.arange(count, dtype=torch.float64) + offset)).reshape(shape).to(dtype)


def fixture_parameters(shapes: dict[str, tuple]) -> dict[str, torch.Tensor]:
    """The chapter's fixed parameters: parameter k (sorted by name) is deterministic(shape, k)."""
    return {name: deterministic(shapes[name], float(k)) for k, name in enumerate(sorted(shapes))}


def fixture_inputs(input_size, hidden_size, batch=2):
    x = 2 * deterministic((batch, input_size), 10.0)
    h0 = deterministic((batch, hidden_size), 20.0)
    c0 = 2 * deterministic((batch, hidden_size), 30.0)
    return x, h0, c0


def parameter_shapes(num_gates, input_size, hidden_size, peephole=None) -> dict[str, tuple]:
    rows = num_gates * hidden_size
    shapes = {"weight_ih": (rows, input_size), "weight_hh": (rows, hidden_size), "bias": (rows,)}
    if peephole == "full":
        shapes["weight_ch"] = (3 * hidden_size, hidden_size)
    elif peephole == "diagonal":
        shapes["weight_ch"] = (3 * hidden_size,)
    return shapes


# -- a cell against torch.nn with the same weights, probes gate by gate -----------------------------------
class TorchProbe:
    """A torch.nn cell with seeded weights and inputs, and the course's one-bias view of them."""

    def __init__(self, torch_class, num_gates, input_size, hidden_size, batch, seed, zero_bias_hn=False):
        self.num_gates, self.hidden_size, self.batch = num_gates, hidden_size, batch
        self.has_cell_state = torch_class is nn.LSTMCell

        def make():
            module = torch_class(input_size, hidden_size)
            x = torch.randn(batch, input_size)
            state = tuple(torch.randn(batch, hidden_size) for _ in range(2 if self.has_cell_state else 1))
            return module, x, state

        self.module, self.x, state = seeded(seed, make)
        if zero_bias_hn:  # torch's b_hn sits inside r * (W_hn h + b_hn): one bias per gate cannot follow it
            with torch.no_grad():
                self.module.bias_hh[2 * hidden_size:] = 0
        self.state = state if self.has_cell_state else state[0]

    def parameters(self, shifts=None, extra=None) -> dict[str, torch.Tensor]:
        module = self.module
        bias = (module.bias_ih + module.bias_hh).detach() + bias_shift(shifts, self.hidden_size, self.num_gates)
        return {"weight_ih": module.weight_ih.detach(), "weight_hh": module.weight_hh.detach(), "bias": bias,
                **(extra or {})}

    def expected(self, shifts=None):
        module = self.module
        with torch.no_grad():
            saved = module.bias_ih.clone()
            module.bias_ih.add_(bias_shift(shifts, self.hidden_size, self.num_gates))
            out = module(self.x, self.state)
            module.bias_ih.copy_(saved)
        return _state_parts(out)

    def run(self, shifts=None, extra=None) -> dict:
        return {"parameters": self.parameters(shifts, extra), "inputs": [self.x, self.state]}


LSTM_PROBES = [
    ({0: SHUT}, "with the input gate shut (i = 0) c_t must be f * c_{t-1}: check the forget gate f "
                "(rows H:2H, sigmoid) and the term f * c_{t-1}"),
    ({0: OPEN, 1: SHUT}, "with i = 1 and f = 0, c_t must be the candidate g: check g (rows 2H:3H, tanh; the order "
                         "is i, f, g, o)"),
    ({1: SHUT}, "with f = 0, c_t must be i * g, and g is right: check the input gate i (rows 0:H, sigmoid)"),
]
H_PROBE = {3: OPEN}


class CellCheck(Check):
    """A check of a cell class: requests of op ``cell``; subclasses say which runs and how to judge them."""

    op, rule = "cell", FROM_SCRATCH
    kwargs: dict = {}

    def __init__(self, name, target, cases):
        self.name, self.target, self._cases = name, target, cases

    def visible_cases(self):
        return self._cases

    def label(self, case):
        return case.label or self.target

    def runs(self, case) -> list[dict]:
        raise NotImplementedError

    def request(self, case):
        return {"op": "cells.cell", "target": self.target, "args": list(case.args[:2]),
                "kwargs": {**self.kwargs, **case.kwargs}, "dtype": case.context.get("dtype", "float32"),
                "runs": self.runs(case)}

    def results(self, got, count) -> list:
        if not (isinstance(got, list) and len(got) == count):
            raise CheckFailed(f"{self.target} could not be run on the check's inputs.")
        return got


class LstmAgainstTorch(CellCheck):
    """One LSTM step against torch.nn.LSTMCell; on a mismatch, probes say which gate is at fault.

    ``case.args`` = (I, H, B, seed); ``case.kwargs`` go to the cell (e.g. peephole=...), whose extra
    parameters (peepholes) are zeroed.
    """

    def probe(self, case):
        I, H, B, seed = case.args
        return TorchProbe(nn.LSTMCell, 4, I, H, B, seed)

    def extra(self, case):
        peephole = case.kwargs.get("peephole")
        shapes = parameter_shapes(4, *case.args[:2], peephole=peephole) if peephole else {}
        return {"weight_ch": torch.zeros(shapes["weight_ch"])} if peephole else {}

    def runs(self, case):
        probe, extra = self.probe(case), self.extra(case)
        return [probe.run(None, extra)] + [probe.run(s, extra) for s, _ in LSTM_PROBES] + [probe.run(H_PROBE, extra)]

    def expected(self, case):
        probe = self.probe(case)
        return [probe.expected(None)] + [probe.expected(s) for s, _ in LSTM_PROBES] + [probe.expected(H_PROBE)]

    def compare(self, case, got, expected):
        name = self.label(case)
        results = [as_pair(r, self.target) for r in self.results(got, len(expected))]
        I, H, B, _ = case.args
        check_shapes(name, results[0], B, H)
        (h, c), (h_ref, c_ref) = results[0], expected[0]
        if close(c, c_ref) and close(h, h_ref):
            return
        if not close(c, c_ref):
            for (_, advice), (_, c_probe), (_, c_probe_ref) in zip(LSTM_PROBES, results[1:4], expected[1:4]):
                if not close(c_probe, c_probe_ref):
                    raise CheckFailed(f"{name}: the cell state c_t is wrong. Probe: {advice}.\n"
                                      + difference("c_t in the probe", c_probe, c_probe_ref))
            raise CheckFailed(f"{name}: c_t is wrong although every gate passes its probe: check "
                              "c_t = f * c_{t-1} + i * g.\n" + difference("c_t", c, c_ref))
        if not close(results[4][0], expected[4][0]):
            raise CheckFailed(f"{name}: c_t is right, h_t is wrong. Probe: with the output gate open (o = 1) h_t "
                              "must be tanh(c_t) of the NEW cell state.\n"
                              + difference("h_t in the probe", results[4][0], expected[4][0]))
        raise CheckFailed(f"{name}: c_t is right, h_t is wrong: check the output gate o (rows 3H:4H, sigmoid) in "
                          "h_t = o * tanh(c_t).\n" + difference("h_t", h, h_ref))

    def summary(self, count):
        return f"{self.target} matches torch.nn.LSTMCell ({count} cases, allowed difference {TOLERANCE:.0e})"


class StepsAgainstReference(CellCheck):
    """Several steps in float64 against ``reference(parameters, x_t, state) -> state``, each step
    starting from the reference's state (``case.args`` = (I, H, B, seed), ``context["steps"]``)."""

    def __init__(self, name, target, cases, reference, num_gates=4, has_cell_state=True, kwargs=None):
        super().__init__(name, target, cases)
        self.reference, self.kwargs = reference, kwargs or {}
        self.num_gates, self.has_cell_state = num_gates, has_cell_state

    def setup(self, case):
        I, H, B, seed = case.args
        peephole = {**self.kwargs, **case.kwargs}.get("peephole")
        shapes = parameter_shapes(self.num_gates, I, H, peephole)
        steps = case.context.get("steps", 4)

        def make():
            parameters = {n: torch.randn(s, dtype=torch.float64) * 0.5 for n, s in shapes.items()}
            x = torch.randn(B, steps, I, dtype=torch.float64)
            state = tuple(torch.randn(B, H, dtype=torch.float64) for _ in range(2 if self.has_cell_state else 1))
            return parameters, x, state

        parameters, x, state = seeded(seed, make)
        states = [state if self.has_cell_state else state[0]]
        for t in range(steps):
            states.append(self.reference(parameters, x[:, t], states[-1]))
        return parameters, x, states

    def runs(self, case):
        parameters, x, states = self.setup(case)
        return [{"parameters": parameters, "inputs": [x[:, t], states[t]]} for t in range(x.shape[1])]

    def request(self, case):
        return dict(super().request(case), dtype="float64")

    def expected(self, case):
        return self.setup(case)[2][1:]

    def compare(self, case, got, expected):
        results = self.results(got, len(expected))
        for t, (result, reference) in enumerate(zip(results, expected)):
            parts = as_pair(result, self.target) if self.has_cell_state else (as_tensor(result, self.target),)
            for part, a, b in zip(("h", "c"), parts, _state_parts(reference)):
                check_close(f"{self.label(case)}: {part} at step {t}", a, b, rtol=1e-10)


GRU_PROBES = [
    ({1: OPEN}, "with the update gate at 1 (z = 1) h_t must be h_{t-1}: h_t = (1 - z) * g + z * h_{t-1}, z from rows "
                "H:2H with a sigmoid (some papers swap z and 1 - z; this course follows PyTorch)"),
    ({0: OPEN, 1: SHUT}, "with r = 1 and z = 0, h_t must be the candidate tanh(W_xg x + W_hg h_{t-1} + b_g): check g "
                         "(rows 2H:3H, tanh)"),
]
RESET_AFTER_PROBE = ({1: SHUT}, "with z = 0, h_t must be g = tanh(W_xg x + b_g + r * (W_hg h_{t-1})): the matrices "
                                "are right, so check the reset gate r (rows 0:H, sigmoid), applied AFTER the product")


class GruAgainstTorch(CellCheck):
    """GRUCell against torch.nn.GRUCell (b_hn = 0), gate probes first.

    ``reset_after=True``: the whole step must match, else the probes (and the reset probe) say why.
    ``reset_after=False`` (the textbook): the probes where r = 1 or z = 1 must match torch, the whole
    step must NOT (that is PyTorch's form), and the fixed parameters must give the chapter's output.
    """

    def __init__(self, name, cases, reset_after, known=None):
        super().__init__(name, "GRUCell", cases)
        self.reset_after, self.known = reset_after, known
        self.kwargs = {"reset_after": reset_after}
        self.probes = GRU_PROBES + ([RESET_AFTER_PROBE] if reset_after else [])

    def probe(self, case):
        I, H, B, seed = case.args
        return TorchProbe(nn.GRUCell, 3, I, H, B, seed, zero_bias_hn=True)

    def runs(self, case):
        if case.context.get("fixture"):
            return [{"parameters": fixture_parameters(parameter_shapes(3, 3, 4)), "inputs": list(fixture_inputs(3, 4)[:2])}]
        probe = self.probe(case)
        return [probe.run(None)] + [probe.run(s) for s, _ in self.probes]

    def request(self, case):
        request = super().request(case)
        return dict(request, dtype="float64") if case.context.get("fixture") else request

    def summary(self, count):
        return f"GRUCell(reset_after={self.reset_after}) matches torch.nn.GRUCell (allowed difference {TOLERANCE:.0e})"

    def expected(self, case):
        if case.context.get("fixture"):
            return [torch.tensor(self.known, dtype=torch.float64)]
        probe = self.probe(case)
        return [probe.expected(None)[0]] + [probe.expected(s)[0] for s, _ in self.probes]

    def compare(self, case, got, expected):
        name = f"GRUCell(reset_after={self.reset_after})"
        results = [as_tensor(r, "GRUCell") for r in self.results(got, len(expected))]
        if case.context.get("fixture"):
            check_close(f"{name}: h_t for the fixed parameters", results[0], expected[0], rtol=1e-8)
            return
        check_shapes(name, results[:1], case.args[2], case.args[1])
        if self.reset_after and close(results[0], expected[0]):
            return
        for (_, advice), h, h_ref in zip(self.probes, results[1:], expected[1:]):
            if not close(h, h_ref):
                raise CheckFailed(f"{name}: h_t is wrong. Probe: {advice}.\n" + difference("h_t in the probe", h, h_ref))
        if self.reset_after:
            raise CheckFailed(f"{name}: every gate passes its probe, but the mix is wrong: h_t = (1 - z) * g + "
                              "z * h_{t-1}.\n" + difference("h_t", results[0], expected[0]))
        if close(results[0], expected[0]):
            raise CheckFailed(f"{name} computes PyTorch's form r * (W_hg h_{{t-1}}); the textbook form resets the "
                              "state first: W_hg (r * h_{t-1}).")


class KnownOutputs(CellCheck):
    """The chapter's fixed parameters (fixture) give printed outputs; known mistakes are named."""

    def __init__(self, name, target, cases, num_gates, known, mistakes=None, probe_check=None):
        super().__init__(name, target, cases)
        self.num_gates, self.known, self.mistakes, self.probe_check = num_gates, known, mistakes or {}, probe_check

    def runs(self, case):
        if "probe" in case.context:
            return self.probe_check.runs(case)
        kind = case.kwargs.get("peephole")
        parameters = fixture_parameters(parameter_shapes(self.num_gates, 3, 4, kind))
        x, h0, c0 = fixture_inputs(3, 4)
        return [{"parameters": parameters, "inputs": [x, (h0, c0)]}]

    def request(self, case):
        if "probe" in case.context:
            return self.probe_check.request(case)
        return dict(super().request(case), dtype="float64", args=[3, 4])

    def expected(self, case):
        if "probe" in case.context:
            return self.probe_check.expected(case)
        outputs = self.known[case.kwargs.get("peephole", "")]
        return {part: torch.tensor(v, dtype=torch.float64) for part, v in outputs.items()}

    def compare(self, case, got, expected):
        if "probe" in case.context:
            return self.probe_check.compare(case, got, expected)
        what = self.label(case)
        h, c = as_pair(self.results(got, 1)[0], self.target)
        if not (close(h, expected["h"], 1e-10) and close(c, expected["c"], 1e-10)):
            for mistake, explanation in self.mistakes.items():
                if mistake in expected and close(h, expected[mistake], 1e-10):
                    raise CheckFailed(f"{what}: {explanation}.")
        check_close(f"{what}: c_t for the fixed parameters", c, expected["c"], rtol=1e-8)
        check_close(f"{what}: h_t for the fixed parameters", h, expected["h"], rtol=1e-8)


class CoupledProbes(CellCheck):
    """With f = 0 or f = 1 the coupled cell is an LSTM with i = 1 - f: compare with torch.nn.LSTMCell."""

    PROBES = [
        (SHUT, {0: OPEN, 1: SHUT}, "with f = 0 the cell writes everything (i = 1 - f = 1): c_t must be g (block 2 of "
                                   "3, tanh) and h_t = o * tanh(c_t) (block 3, sigmoid)"),
        (OPEN, {0: SHUT, 1: OPEN}, "with f = 1 the cell keeps c_{t-1} and writes nothing (i = 1 - f = 0)"),
    ]

    def probe(self, case):
        I, H, B, seed = case.args
        return TorchProbe(nn.LSTMCell, 4, I, H, B, seed)

    def runs(self, case):
        probe, H = self.probe(case), case.args[1]
        runs = []
        for forget_shift, _, _ in self.PROBES:
            module = probe.module
            runs.append({"parameters": {"weight_ih": module.weight_ih.detach()[H:], "weight_hh": module.weight_hh.detach()[H:],
                                        "bias": (module.bias_ih + module.bias_hh).detach()[H:] + bias_shift({0: forget_shift}, H, 3)},
                         "inputs": [probe.x, probe.state]})
        return runs

    def expected(self, case):
        probe = self.probe(case)
        return [probe.expected(shifts) for _, shifts, _ in self.PROBES]

    def compare(self, case, got, expected):
        for (_, _, advice), result, (h_ref, c_ref) in zip(self.PROBES, self.results(got, len(expected)), expected):
            h, c = as_pair(result, "CoupledLSTMCell")
            for part, a, b in (("c_t", c, c_ref), ("h_t", h, h_ref)):
                if not close(a, b):
                    raise CheckFailed(f"CoupledLSTMCell: {part} is wrong. Probe: {advice}.\n"
                                      + difference(f"{part} in the probe", a, b))


class LstmGradients(CellCheck):
    """Autograd's gradients of the student's LSTMCell against central differences of the same cell,
    along random directions of (x, h, c, every parameter), in float64: differentiable tensor code."""

    directions, epsilon = 3, 1e-6

    def setup(self, case):
        I, H, B, seed = case.args

        def make():
            parameters = {n: torch.randn(s, dtype=torch.float64) * 0.5
                          for n, s in parameter_shapes(4, I, H).items()}
            x, h, c = (torch.randn(B, n, dtype=torch.float64) for n in (I, H, H))
            weights = [torch.randn(B, H, dtype=torch.float64) for _ in range(2)]
            steps = [({n: torch.randn(p.shape, dtype=torch.float64) for n, p in parameters.items()},
                      [torch.randn(t.shape, dtype=torch.float64) for t in (x, h, c)]) for _ in range(self.directions)]
            return parameters, [x, h, c], weights, steps

        return seeded(seed, make)

    def runs(self, case):
        parameters, inputs, weights, steps = self.setup(case)
        runs = [{"parameters": parameters, "inputs": [inputs[0], (inputs[1], inputs[2])], "weights": weights}]
        for sign in (1, -1):
            for dp, di in steps:
                moved = {n: p + sign * self.epsilon * dp[n] for n, p in parameters.items()}
                x, h, c = (t + sign * self.epsilon * d for t, d in zip(inputs, di))
                runs.append({"parameters": moved, "inputs": [x, (h, c)], "weights": weights})
        return runs

    def request(self, case):
        return dict(super().request(case), dtype="float64")

    def expected(self, case):
        return self.setup(case)

    def compare(self, case, got, expected):
        parameters, inputs, weights, steps = expected
        results = self.results(got, 1 + 2 * self.directions)
        if not all(isinstance(r, dict) and isinstance(r.get("loss"), float) for r in results):
            raise CheckFailed("LSTMCell's output could not be differentiated (does forward return (h, c)?).")
        base = results[0]
        grads_p, grads_i = base.get("parameters", {}), base.get("inputs", [])
        for k, (dp, di) in enumerate(steps):
            numeric = (results[1 + k]["loss"] - results[1 + self.directions + k]["loss"]) / (2 * self.epsilon)
            analytic = 0.0
            for name, d in dp.items():
                g = grads_p.get(name)
                if not isinstance(g, torch.Tensor):
                    raise CheckFailed(f"autograd gives no gradient for LSTMCell.{name}: compute with differentiable "
                                      "tensor operations (no .data, .detach(), NumPy or in-place changes autograd needs).")
                analytic += float((g * d).sum())
            for g, d in zip(grads_i, di):
                analytic += float((g * d).sum()) if isinstance(g, torch.Tensor) else 0.0
            if abs(analytic - numeric) > 1e-5 * max(1.0, abs(numeric)):
                raise CheckFailed("autograd's gradients of your LSTMCell disagree with numerical ones: along a random "
                                  f"direction autograd gives {analytic:.8g}, central differences {numeric:.8g}. Compute "
                                  "with differentiable tensor operations: no .data, .detach(), NumPy or in-place "
                                  "changes of tensors autograd needs.")

    def summary(self, count):
        return f"LSTMCell's gradients agree with central differences ({count} cases)"


class UnrollAgainstTorch(CellCheck):
    """unroll over full sequences against a one-layer torch.nn.LSTM / GRU / RNN with the same weights.

    ``case.args`` = (torch module name, course cell name, I, H, B, T, seed); ``case.kwargs``: the
    course cell's options; ``context["with_state"]``: start from a random state instead of zeros.
    """

    op = "cells.unroll"

    def setup(self, case):
        torch_name, cell_name, I, H, B, T, seed = case.args
        with_state = case.context.get("with_state", False)
        has_c = cell_name == "LSTMCell"

        def make():
            module = getattr(nn, torch_name)(I, H, batch_first=True)
            x = torch.randn(B, T, I)
            state = tuple(torch.randn(B, H) for _ in range(2 if has_c else 1)) if with_state else None
            return module, x, state

        module, x, state = seeded(seed, make)
        state = state if state is None or has_c else state[0]
        parameters = {w: getattr(module, f"{w}_l0").detach() for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        return module, x, state, parameters

    def request(self, case):
        _, cell_name, I, H, *_ = case.args
        module, x, state, parameters = self.setup(case)
        return {"op": "cells.unroll", "target": "unroll", "x": x, "kwargs": {"state": state},
                "cell": {"type": cell_name, "args": [I, H], "kwargs": {"num_biases": 2, **case.kwargs},
                         "parameters": parameters}}

    def expected(self, case):
        module, x, state, _ = self.setup(case)
        torch_state = None if state is None else (tuple(s[None] for s in state) if isinstance(state, tuple) else state[None])
        with torch.no_grad():
            outputs, final = module(x, torch_state)
        return outputs, tuple(part[0] for part in _state_parts(final))

    def label(self, case):
        return f"unroll with {case.args[1]} against torch.nn.{case.args[0]}"

    def compare(self, case, got, expected):
        name = self.label(case)
        outputs, final = unroll_result(got, expected[0].shape)
        check_close(f"{name}: outputs", outputs, expected[0], rtol=TOLERANCE, atol=TOLERANCE)
        final = state_tensors(final)
        if len(final) != len(expected[1]):
            raise CheckFailed(f"{name}: the final state has {len(final)} part(s); expected {len(expected[1])} "
                              "(h, or the pair (h, c) for an LSTM).")
        for part, a, b in zip(("h", "c"), final, expected[1]):
            check_close(f"{name}: final {part}", a, b, rtol=TOLERANCE, atol=TOLERANCE)

    def summary(self, count):
        return f"unroll matches torch.nn's layers ({count} cases, allowed difference {TOLERANCE:.0e})"


def unroll_result(got, shape):
    """unroll must return (outputs of ``shape``, final state)."""
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise CheckFailed(f"unroll must return the pair (outputs, final state); got {type(got).__name__}.")
    outputs, final = got
    if not isinstance(outputs, torch.Tensor) or tuple(outputs.shape) != tuple(shape):
        found = tuple(outputs.shape) if isinstance(outputs, torch.Tensor) else type(outputs).__name__
        raise CheckFailed(f"unroll's outputs should have shape {tuple(shape)}; got {found}.")
    return outputs, final


def state_tensors(state) -> tuple:
    parts = _state_parts(state)
    if not all(isinstance(p, torch.Tensor) for p in parts):
        raise CheckFailed(f"the final state must be h or the pair (h, c) of tensors; got {type(state).__name__}.")
    return parts


class UnrollPadding(CellCheck):
    """A padded batch through unroll against each sequence alone through course_lib's unroll.

    ``case.args`` = (course cell name, I, H, lengths, T, seed); ``case.kwargs``: the cell's options.
    """

    op = "cells.unroll"

    def setup(self, case):
        cell_name, I, H, lengths, T, seed = case.args

        def make():
            cell = LIBRARY_CELLS[cell_name](I, H, **case.kwargs)
            x = torch.randn(len(lengths), T, I)
            return cell, x

        cell, x = seeded(seed, make)
        lengths = torch.tensor(lengths)
        x[torch.arange(T)[None, :] >= lengths[:, None]] = 100.0  # garbage in the padding must not leak in
        return cell, x, lengths

    def request(self, case):
        cell_name, I, H, *_ = case.args
        cell, x, lengths = self.setup(case)
        return {"op": "cells.unroll", "target": "unroll", "x": x, "kwargs": {"lengths": lengths},
                "cell": {"type": cell_name, "args": [I, H], "kwargs": dict(case.kwargs),
                         "parameters": {n: p.detach() for n, p in cell.named_parameters()}}}

    def expected(self, case):
        cell, x, lengths = self.setup(case)
        with torch.no_grad():
            alone = [library.unroll(cell, x[row:row + 1, :length]) for row, length in enumerate(lengths.tolist())]
        return x.shape[:2] + (case.args[2],), lengths.tolist(), alone

    def label(self, case):
        return f"unroll with {case.args[0]}, lengths {list(case.args[3])}"

    def compare(self, case, got, expected):
        name = self.label(case)
        shape, lengths, alone = expected
        outputs, final = unroll_result(got, shape)
        final = state_tensors(final)
        for row, (length, (alone_outputs, alone_final)) in enumerate(zip(lengths, alone)):
            padded = outputs[row, length:]
            if padded.numel() and padded.abs().max() > 0:
                raise CheckFailed(f"{name}: the outputs at padded steps must be zero; sequence {row} (length "
                                  f"{length}) has nonzero outputs at steps {length}..{shape[1] - 1}.")
            check_close(f"{name}: outputs of sequence {row} (length {length}) at its real steps",
                        outputs[row, :length], alone_outputs[0], rtol=TOLERANCE, atol=TOLERANCE)
            alone_final = _state_parts(alone_final)
            if len(final) != len(alone_final):
                raise CheckFailed(f"{name}: the final state has {len(final)} part(s); expected {len(alone_final)}.")
            for part, a, b in zip(("h", "c"), final, alone_final):
                if not close(a[row], b[0]):
                    raise CheckFailed(f"{name}: the final {part} of sequence {row} (length {length}) is not its state "
                                      "after its last real step: padded steps must leave the state unchanged.\n"
                                      + difference(f"final {part}", a[row], b[0]))

    def summary(self, count):
        return f"a padded batch through unroll = each sequence alone ({count} cases)"


class Composite(Check):
    """One exercise checked several ways: ``case.context["part"]`` names the part that runs it."""

    def __init__(self, name, target, parts: dict, cases, said: str, rule=FROM_SCRATCH):
        self.name, self.target, self.parts, self._cases, self.rule = name, target, parts, cases, rule
        self.said = said

    def visible_cases(self):
        return self._cases

    def _part(self, case):
        return self.parts[case.context["part"]]

    def request(self, case):
        return self._part(case).request(case)

    def expected(self, case):
        return self._part(case).expected(case)

    def compare(self, case, got, expected):
        return self._part(case).compare(case, got, expected)

    def label(self, case):
        return self._part(case).label(case)

    def summary(self, count):
        return self.said


KNOWN_PEEPHOLE = {  # the fixed parameters of the chapter's fixture: right h_t and c_t, and two mistakes
    "full": {
        "h": [[-0.00201320231925, 0.00702945323829, 0.469521680262, 0.564672182075],
              [-0.722250727247, 0.0889569509193, 0.146839255399, -0.642022164868]],
        "c": [[-0.0743691691655, 0.424570120031, 0.619569812763, 0.951564940674],
              [-1.46457499159, 0.564207898879, 0.894566259666, -0.770596071707]],
        "o_reads_old_c": [[-0.000334623085185, 0.0066408305473, 0.534534188049, 0.721496560348],
                          [-0.098552726536, 0.00290181894408, 0.0387357008126, -0.646113946448]],
        "transposed": [[-0.00282549736044, 0.0177203582538, 0.461484695621, 0.360483427639],
                       [-0.619094781338, 0.0474936399178, 0.0634073277326, -0.61950988205]],
    },
    "diagonal": {
        "h": [[0.0256064191132, 0.0152905805802, 0.783285450064, 0.198203431872],
              [-0.777894104978, 0.0705721883062, 0.0426346178404, -0.166716599447]],
        "c": [[0.697741029774, 0.577856574838, 1.33961628253, 0.407996507418],
              [-1.26685965506, 0.959957351598, 0.889595523665, -0.174808562788]],
        "o_reads_old_c": [[0.0822396790056, 0.0102378252239, 0.804958328392, 0.186774610284],
                          [-0.783583863006, 0.0180514922938, 0.0428234102775, -0.161843602638]],
    },
}
PEEPHOLE_MISTAKES = {
    "o_reads_old_c": "the output gate must read the NEW cell state c_t; yours reads c_{t-1}",
    "transposed": "the full peephole term is P c, which is c @ P.T for a batch; yours computes c @ P",
}
KNOWN_COUPLED = {"": {
    "h": [[-0.862395272337, 0.0486014612408, 0.560231563138, 0.399079585883],
          [-0.428475515253, -0.847387172555, 0.174966371184, 0.362767317732]],
    "c": [[-1.59178045987, 0.19162537859, 1.5172794599, 0.85374790355],
          [-1.42922999843, -1.296165123, 0.969093785282, 1.30503791986]],
}}
KNOWN_TEXTBOOK_GRU = [[0.940084556031, 0.229063267816, -0.0507276072281, -0.441136563292],
                      [-0.257051650057, 0.99088207101, 0.0155735915342, -0.370258329858]]


def _peephole_probe(kind, *args):
    return Case(args, {"peephole": kind}, context={"part": "probe"},
                label=f"PeepholeLSTMCell(peephole={kind!r}) with its peepholes zeroed")


def _known(kind):
    return Case((3, 4), {"peephole": kind} if kind else {}, context={"part": "known"},
                label=f"PeepholeLSTMCell(peephole={kind!r})" if kind else "CoupledLSTMCell")


def steps_part(name, target, reference, num_gates=4, has_cell_state=True, kwargs=None):
    """A part comparing several steps with ``reference`` (an instructor's implementation, hidden cases only)."""
    return StepsAgainstReference(name, target, [], reference, num_gates, has_cell_state, kwargs)


def build_checks(references: dict | None = None) -> dict[str, Check]:
    """The chapter's checks; ``references`` (the grader's) adds the parts hidden cases need."""
    refs = references or {}
    lstm_probe = LstmAgainstTorch("cells.lstm_cell", "LSTMCell", [Case((5, 7, 3, 0), label="LSTMCell")])
    peephole_probe = LstmAgainstTorch("cells.peephole", "PeepholeLSTMCell", [])
    textbook = GruAgainstTorch("cells.gru_textbook", [], reset_after=False, known=KNOWN_TEXTBOOK_GRU)
    parts = {
        "cells.lstm_cell": {"probe": lstm_probe},
        "cells.gru_textbook": {"probe": textbook},
        "cells.peephole": {"probe": peephole_probe,
                           "known": KnownOutputs("cells.peephole", "PeepholeLSTMCell", [], 4, KNOWN_PEEPHOLE,
                                                 PEEPHOLE_MISTAKES)},
        "cells.coupled": {"probe": CoupledProbes("cells.coupled", "CoupledLSTMCell", []),
                          "known": KnownOutputs("cells.coupled", "CoupledLSTMCell", [], 3, KNOWN_COUPLED)},
    }
    for name, (target, num_gates, has_c, kwargs) in {
            "cells.lstm_cell": ("LSTMCell", 4, True, None), "cells.gru_textbook": ("GRUCell", 3, False, {"reset_after": False}),
            "cells.peephole": ("PeepholeLSTMCell", 4, True, None), "cells.coupled": ("CoupledLSTMCell", 3, True, None)}.items():
        if name in refs:
            parts[name]["steps"] = steps_part(name, target, refs[name], num_gates, has_c, kwargs)
    checks = [
        Composite("cells.lstm_cell", "LSTMCell", parts["cells.lstm_cell"],
                  [Case((5, 7, 3, 0), context={"part": "probe"}, label="LSTMCell")],
                  f"LSTMCell matches torch.nn.LSTMCell (allowed difference {TOLERANCE:.0e})"),
        LstmGradients("cells.lstm_gradcheck", "LSTMCell", [Case((3, 4, 2, 0), label="LSTMCell")]),
        GruAgainstTorch("cells.gru_reset_after", [Case((5, 7, 3, 0))], reset_after=True),
        Composite("cells.gru_textbook", "GRUCell", parts["cells.gru_textbook"],
                  [Case((5, 7, 3, 0), context={"part": "probe"}), Case((3, 4), context={"part": "probe", "fixture": True})],
                  "GRUCell(reset_after=False) passes the probes and gives the known output"),
        Composite("cells.peephole", "PeepholeLSTMCell", parts["cells.peephole"],
                  [c for kind in ("full", "diagonal") for c in (_peephole_probe(kind, 5, 7, 3, 0), _known(kind))],
                  "PeepholeLSTMCell, full and diagonal: matches torch.nn.LSTMCell with its peepholes zeroed and "
                  "gives the known outputs"),
        Composite("cells.coupled", "CoupledLSTMCell", parts["cells.coupled"],
                  [Case((5, 7, 3, 0), context={"part": "probe"}), _known("")],
                  "CoupledLSTMCell passes the saturated-gate probes and gives the known output"),
        UnrollAgainstTorch("cells.unroll_lstm", "unroll", [Case(("LSTM", "LSTMCell", 4, 6, 3, 7, 0))]),
        UnrollPadding("cells.unroll_padding", "unroll", [Case(("LSTMCell", 4, 6, (5, 2, 4, 1), 5, 0))]),
    ]
    return {check.name: check for check in checks}


CHECKS = build_checks()

# requests this chapter defines (see course_lib.checks.base.chapter_op)
OPS = {"cell": perform_cell, "unroll": perform_unroll}
