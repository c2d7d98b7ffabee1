"""Checks of the bptt chapter (backpropagation through time), the student half.

Expected values come from PyTorch itself: the forward pass of ``torch.nn.RNN`` holding the
problem's weights with ``F.cross_entropy`` on its outputs, autograd's gradients,
``torch.autograd.functional.jacobian`` on the whole map from a state to the last output. The
backward-pass exercises must not use autograd; that is judged on their source. Hidden cases (other
sizes and seeds) are in ``grader/bptt.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.functional import jacobian

from course_lib import cells as library
from course_lib.checks.base import Case, Check, seeded
from course_lib.checks.rules import ForbiddenRule
from course_lib.grading.checks import CheckFailed, check_close

DTYPE = torch.float64
NO_AUTOGRAD = ForbiddenRule(("torch.autograd", "torch.func", "autograd", "jacobian"),
                            "This exercise asks for the gradients from your own equations, with tensor operations only.",
                            attributes=("backward", "grad", "requires_grad_"))
GRU_WEIGHTS = ("W_xz", "W_hz", "W_xg", "W_hg", "W_xr", "W_hr")


def make_rnn_problem(seed, B, T, I, H, K):
    """x: (B, T, I), y: (B, T), h0: (B, H) and params {W_hx, W_hh, b_h, W_ph, b_p} for a given seed
    (the same as the notebook's given make_rnn_problem)."""
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape, scale=1.0):
        return scale * torch.randn(*shape, generator=generator, dtype=DTYPE)

    x = randn(B, T, I)
    y = torch.randint(K, (B, T), generator=generator)
    h0 = randn(B, H, scale=0.5)
    params = {"W_hx": randn(H, I, scale=0.6), "W_hh": randn(H, H, scale=0.6), "b_h": randn(H, scale=0.1),
              "W_ph": randn(K, H, scale=0.6), "b_p": randn(K, scale=0.1)}
    return x, y, h0, params


#: torch.nn.RNN computes the Elman recurrence h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh): the
#: chapter's W_hx, W_hh and b_h go in, b_hh is zero. Built on the meta device: it holds no weights (none
#: drawn from torch's generator); :func:`torch.func.functional_call` runs it with the problem's.
ELMAN = {"W_hx": "weight_ih_l0", "W_hh": "weight_hh_l0", "b_h": "bias_ih_l0"}


def reference_forward(x, y, h0, params):
    """hs, probs and the summed cross-entropy: the states by ``torch.nn.RNN`` (tanh) holding the problem's
    weights, the output layer by ``F.linear``, ``softmax`` and ``F.cross_entropy``; differentiable in the
    parameters and h0."""
    (B, T, I), H = x.shape, h0.shape[1]
    rnn = torch.nn.RNN(I, H, nonlinearity="tanh", batch_first=True, device="meta")
    weights = {torch_name: params[name] for name, torch_name in ELMAN.items()}
    weights["bias_hh_l0"] = torch.zeros_like(params["b_h"])
    hs, _ = torch.func.functional_call(rnn, weights, (x, h0[None]))
    scores = F.linear(hs, params["W_ph"], params["b_p"])
    loss = F.cross_entropy(scores.reshape(B * T, -1), y.reshape(B * T), reduction="sum")
    return hs, torch.softmax(scores, dim=-1), loss


def autograd_gradients(x, y, h0, params):
    """dL/dparameter and dL/dh0 by autograd, through the reference forward."""
    leaves = {name: value.clone().requires_grad_() for name, value in params.items()}
    leaves["h0"] = h0.clone().requires_grad_()
    loss = reference_forward(x, y, leaves["h0"], leaves)[2]
    return dict(zip(leaves, torch.autograd.grad(loss, list(leaves.values()))))


def size_label(case):
    seed, B, T, I, H, K = case.args
    return f"B={B}, T={T}, I={I}, H={H}, K={K}"


def as_dict(got, function, keys):
    if not isinstance(got, dict):
        raise CheckFailed(f"{function} should return a dict with the keys {list(keys)}; got a {type(got).__name__}.")
    return got


class ForwardCheck(Check):
    """rnn_forward against the reference forward: ``case.args`` = (seed, B, T, I, H, K)."""

    name, target = "bptt.rnn_forward", "rnn_forward"

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return self._cases

    def request(self, case):
        return {"op": "call", "target": self.target, "args": list(make_rnn_problem(*case.args)), "kwargs": {}}

    def expected(self, case):
        return reference_forward(*make_rnn_problem(*case.args))

    def compare(self, case, got, expected):
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise CheckFailed("rnn_forward should return the tuple (hs, probs, loss).")
        for name, value, reference in zip(("hs", "probs", "loss"), got, expected):
            if not isinstance(value, torch.Tensor) or value.shape != reference.shape:
                found = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise CheckFailed(f"{name} should be a tensor of shape {tuple(reference.shape)}; got {found}.")
            check_close(f"{name} ({size_label(case)})", value, reference, rtol=1e-10)

    def summary(self, count):
        return f"rnn_forward matches the reference forward pass ({count} cases, relative error < 1e-10)"


class BackwardCheck(Check):
    """rnn_backward's gradients ``names`` against autograd, from the reference cache."""

    target, rule = "rnn_backward", NO_AUTOGRAD

    def __init__(self, name, names, cases):
        self.name, self.names, self._cases = name, names, cases

    def visible_cases(self):
        return self._cases

    def request(self, case):
        x, y, h0, params = make_rnn_problem(*case.args)
        hs, probs, _ = reference_forward(x, y, h0, params)
        return {"op": "call", "target": self.target, "args": [x, y, h0, params, hs, probs], "kwargs": {}}

    def expected(self, case):
        return autograd_gradients(*make_rnn_problem(*case.args))

    def compare(self, case, got, expected):
        got = as_dict(got, "rnn_backward", self.names)
        for name in self.names:
            if name not in got:
                raise CheckFailed(f"the dict rnn_backward returns has no key {name!r} (it has {sorted(got)}).")
            value = got[name]
            if not isinstance(value, torch.Tensor) or value.shape != expected[name].shape:
                found = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise CheckFailed(f"dL/d{name} should have shape {tuple(expected[name].shape)}; got {found}.")
            check_close(f"dL/d{name} ({size_label(case)})", value, expected[name], rtol=1e-8)

    def summary(self, count):
        return f"dL/d{', dL/d'.join(self.names)} agree with autograd ({count} cases, relative error < 1e-8)"


def scalar_gru_step(x, h, W):
    """One step of the notebook's scalar GRU: (h_new, z, r, g)."""
    x, h = torch.as_tensor(x, dtype=DTYPE), torch.as_tensor(h, dtype=DTYPE)
    z = torch.sigmoid(W["W_xz"] * x + W["W_hz"] * h)
    r = torch.sigmoid(W["W_xr"] * x + W["W_hr"] * h)
    g = torch.tanh(W["W_xg"] * x + W["W_hg"] * (r * h))
    return (1 - z) * g + z * h, z, r, g


def immediate_gradients(x1, x2, h0, W, delta):
    """Autograd through step 2 only: h1 is computed, then detached (held fixed)."""
    leaves = {name: torch.tensor(float(W[name]), dtype=DTYPE, requires_grad=True) for name in GRU_WEIGHTS}
    h1 = scalar_gru_step(x1, h0, leaves)[0].detach()
    h2 = scalar_gru_step(x2, h1, leaves)[0]
    grads = torch.autograd.grad(h2, list(leaves.values()), grad_outputs=torch.tensor(delta, dtype=DTYPE))
    return dict(zip(GRU_WEIGHTS, grads))


VISIBLE_GRU = dict(x1=0.5, x2=-1.0, h0=0.2, delta=1.5,
                   W={"W_xz": 0.3, "W_hz": -0.4, "W_xg": -0.6, "W_hg": 0.9, "W_xr": 0.8, "W_hr": 0.5})


def gru_case(seed):
    """Random inputs, state, weights and delta (a hidden case)."""
    values = (2 * torch.rand(10, generator=torch.Generator().manual_seed(seed), dtype=DTYPE) - 1).tolist()
    return Case(kwargs=dict(x1=values[0], x2=values[1], h0=values[2], delta=2 * values[3],
                            W={name: 1.5 * value for name, value in zip(GRU_WEIGHTS, values[4:])}))


class GruStepCheck(Check):
    """Two of gru_step2_grads's six gradients (one path of the GRU) against autograd, h1 held fixed."""

    target, rule = "gru_step2_grads", NO_AUTOGRAD

    def __init__(self, name, names):
        self.name, self.names = name, names

    def visible_cases(self):
        return [Case(kwargs=VISIBLE_GRU)]

    def request(self, case):
        return {"op": "call", "target": self.target, "args": [], "kwargs": dict(case.kwargs)}

    def expected(self, case):
        return immediate_gradients(**case.kwargs)

    def compare(self, case, got, expected):
        got = as_dict(got, "gru_step2_grads", GRU_WEIGHTS)
        k = case.kwargs
        for name in self.names:
            if name not in got:
                raise CheckFailed(f"the dict gru_step2_grads returns has no key {name!r} (it has {sorted(got)}).")
            check_close(f"d eps_2 / d{name} (x1={k['x1']:.3g}, x2={k['x2']:.3g}, h0={k['h0']:.3g}, "
                        f"delta={k['delta']:.3g})", got[name], expected[name], rtol=1e-10)

    def summary(self, count):
        return f"d eps_2 / d{' and d'.join(self.names)} agree with autograd ({count} cases)"


# -- jacobian_norms: the student's function gets a course cell -------------------------------------------
CELLS = {"ElmanCell": library.ElmanCell, "GRUCell": library.GRUCell, "LSTMCell": library.LSTMCell}


def norms_problem(case):
    cell_name, seed, T, I, H = case.args

    def make():
        cell = CELLS[cell_name](I, H).double()
        x = torch.randn(T, I, dtype=DTYPE)
        s0 = 0.5 * torch.randn(2 * H if cell.has_cell_state else H, dtype=DTYPE)
        return cell, x, s0

    return seeded(seed, make)


def perform_with_cell(request: dict, function):
    """``function(cell, *args)`` with a course cell built from ``request["cell"]`` (in the sandbox)."""
    spec = request["cell"]
    cell = CELLS[spec["type"]](*spec["args"]).double()
    with torch.no_grad():
        for name, value in spec["parameters"].items():
            cell.get_parameter(name).copy_(value)
    return function(cell, *request["args"])


def state_step(cell, x_t, s):
    """One step of a course cell on a flat state vector (the notebook's given state_step)."""
    H = cell.hidden_size
    state = (s[None, :H], s[None, H:]) if cell.has_cell_state else s[None]
    _, new_state = cell(x_t[None], state)
    return torch.cat(new_state, dim=1)[0] if cell.has_cell_state else new_state[0]


def reference_norms(cell, x, s0):
    """One Jacobian per t of the whole map s_t -> h_T (s_t itself the map s_0 -> s_t), no products of
    step Jacobians."""
    T, H = x.shape[0], cell.hidden_size

    def steps(start, stop):
        def run(s):
            for u in range(start, stop):
                s = state_step(cell, x[u], s)
            return s
        return run

    def norm(t):
        with torch.no_grad():
            s_t = steps(0, t)(s0)
        return torch.linalg.matrix_norm(jacobian(lambda s: steps(t, T)(s)[:H], s_t), ord=2)

    return torch.stack([norm(t) for t in range(T)])


class NormsCheck(Check):
    """jacobian_norms against autograd's Jacobian of the whole map: ``case.args`` = (cell, seed, T, I, H)."""

    name, target, op = "bptt.jacobian_norms", "jacobian_norms", "with_cell"

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return self._cases

    def request(self, case):
        cell, x, s0 = norms_problem(case)
        cell_name, _, _, I, H = case.args
        return {"op": "bptt.with_cell", "target": self.target, "args": [x, s0],
                "cell": {"type": cell_name, "args": [I, H],
                         "parameters": {n: p.detach() for n, p in cell.named_parameters()}}}

    def expected(self, case):
        return reference_norms(*norms_problem(case))

    def compare(self, case, got, expected):
        cell_name, _, T, I, H = case.args
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != (T,):
            found = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            raise CheckFailed(f"jacobian_norms(...) should be a tensor of shape {(T,)}; got {found}.")
        check_close(f"||dh_T/ds_t|| for a {cell_name} (T={T}, I={I}, H={H})", got, expected, rtol=1e-8)

    def summary(self, count):
        return f"jacobian_norms agrees with autograd's Jacobian of the whole map ({count} cases)"


CHECKS = {check.name: check for check in [
    ForwardCheck([Case((0, 2, 5, 3, 4, 3))]),
    BackwardCheck("bptt.rnn_backward_output_layer", ["W_ph", "b_p"], [Case((0, 2, 5, 3, 4, 3))]),
    BackwardCheck("bptt.rnn_backward_recurrent", ["W_hx", "W_hh", "b_h", "h0"], [Case((0, 2, 5, 3, 4, 3))]),
    GruStepCheck("bptt.gru_update", ["W_xz", "W_hz"]),
    GruStepCheck("bptt.gru_candidate", ["W_xg", "W_hg"]),
    GruStepCheck("bptt.gru_reset", ["W_xr", "W_hr"]),
    NormsCheck([Case(("ElmanCell", 0, 6, 2, 3)), Case(("LSTMCell", 0, 5, 2, 3))]),
]}

# requests this chapter defines (see course_lib.checks.base.chapter_op)
OPS = {"with_cell": perform_with_cell}
