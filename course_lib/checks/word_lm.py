"""Checks of the word_lm chapter (a word language model on the PTB), the student half.

Expected values come from the library students already have: ``course_lib.data``'s
``batchify_stream`` and ``StreamWindows`` for the batching, ``course_lib.train.fit`` (truncated
BPTT with the state carried, clipping) for one training epoch and ``course_lib.train.evaluate``
with ``course_lib.metrics.Perplexity`` for the perplexity; the common mistakes a message names are
the same library calls with one setting changed. The exercises must not call these library
versions; that is judged on their source. Hidden cases are in ``grader/word_lm.py``.

Requests: ``windows`` asks batch_at for several windows of one stream; ``detach`` builds a state
attached to a graph and describes what detach_state returns; ``train_epoch`` and ``perplexity``
hand the student's function a model holding the grader's weights and the windows. That model is
:class:`course_lib.checks.models.StreamModel` (fixed random codes -> Elman layers -> read-out), not
the notebook's WordLM: WordLM is the answer of char_lm's CharRNN exercise, and this file ships to
students. It keeps what the checks need of a model: the call contract, dropout that eval()
switches off, a state to carry that is one tensor or a pair.
"""

from __future__ import annotations

import copy
import math

import torch

from course_lib.checks.base import Case, Check, seeded
from course_lib.checks.models import StreamModel
from course_lib.checks.rules import ForbiddenRule
from course_lib.data import StreamWindows, batchify_stream
from course_lib.grading.checks import CheckFailed, check_close, check_equal, check_shape
from course_lib.metrics import Perplexity, TokenNLL, masked_cross_entropy, perplexity
from course_lib.train import evaluate, fit

OWN_BATCHES = ForbiddenRule(("course_lib.data",), "Write it with view/reshape and slicing.")
OWN_DETACH = ForbiddenRule(("course_lib.train", "course_lib.tbptt_graph"), "Write it with .detach() and recursion over tuples.")
OWN_EPOCH = ForbiddenRule(("course_lib.train", "course_lib.tbptt_graph"), "Write the loop of the five steps yourself.")
OWN_PERPLEXITY = ForbiddenRule(("course_lib.train", "course_lib.metrics"), "Add up the NLL and the tokens yourself.")


def stream_loss(logits, targets):
    """Mean cross-entropy per token of an unpadded stream (every id counts, 0 included)."""
    return masked_cross_entropy(logits, targets, ignore_index=None)


def number(got, where) -> float:
    """A float from what the student's function returned (a Python number or a one-element tensor)."""
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        return float(got)
    if isinstance(got, (int, float)) and not isinstance(got, bool):
        return float(got)
    if got is None:
        raise CheckFailed(f"{where} returned None: `return` the number.")
    raise CheckFailed(f"{where} should return a number; got a {type(got).__name__}.")


# -- 1. continuous-stream batching ---------------------------------------------------------------------
class CountCheck(Check):
    """windows_per_epoch(N, B, T) against the number of full windows StreamWindows gives."""

    name, target = "word_lm.windows_per_epoch", "windows_per_epoch"

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return self._cases

    def expected(self, case):
        num_tokens, batch_size, num_steps = case.args
        rows = batchify_stream(torch.zeros(num_tokens, dtype=torch.long), batch_size)
        return len(StreamWindows(rows, num_steps, drop_last=True))

    def compare(self, case, got, expected):
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            raise CheckFailed(f"{self.label(case)} should return an int; got a {type(got).__name__}.")
        check_equal(self.label(case), got, expected)

    def summary(self, count):
        return f"windows_per_epoch: correct ({count} cases)"


def random_stream(num_tokens, seed, vocab_size=1_000):
    return torch.randint(vocab_size, (num_tokens,), generator=torch.Generator().manual_seed(seed))


def perform_windows(request: dict, batch_at):
    """batch_at(ids, B, T, k) for each k asked."""
    ids, batch_size, num_steps = request["ids"], int(request["batch_size"]), int(request["num_steps"])
    return [batch_at(ids, batch_size, num_steps, int(k)) for k in request["ks"]]


class BatchCheck(Check):
    """batch_at against every full window of StreamWindows: ``case.args`` = (N, B, T, seed)."""

    name, target, op, rule = "word_lm.batch_at", "batch_at", "word_lm.windows", OWN_BATCHES

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return self._cases

    def label(self, case):
        num_tokens, batch_size, num_steps, _ = case.args
        return f"batch_at(N={num_tokens}, B={batch_size}, T={num_steps}"

    def expected(self, case):
        num_tokens, batch_size, num_steps, seed = case.args
        return list(StreamWindows(batchify_stream(random_stream(num_tokens, seed), batch_size), num_steps, drop_last=True))

    def request(self, case):
        num_tokens, batch_size, num_steps, seed = case.args
        return {"op": self.op, "target": self.target, "ids": random_stream(num_tokens, seed),
                "batch_size": batch_size, "num_steps": num_steps, "ks": list(range(len(self.expected(case))))}

    def compare(self, case, got, expected):
        where = self.label(case)
        if not (isinstance(got, list) and len(got) == len(expected)):
            raise CheckFailed(f"{where}, ...) could not be run for every window.")
        for k, (pair, (x, y)) in enumerate(zip(got, expected)):
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise CheckFailed(f"{where}, k={k}) should return the pair (x, y).")
            check_shape(f"{where}, k={k}) x", pair[0], x.shape)
            check_equal(f"{where}, k={k}) x", pair[0].tolist(), x.tolist())
            check_shape(f"{where}, k={k}) y", pair[1], y.shape)
            check_equal(f"{where}, k={k}) y (the next token of each x)", pair[1].tolist(), y.tolist())

    def summary(self, count):
        return f"batch_at: every window of {count} streams correct"


# -- 2. detaching the carried state --------------------------------------------------------------------
def attached_leaf(shape, seed):
    leaf = torch.randn(*shape, generator=torch.Generator().manual_seed(seed), requires_grad=True)
    return leaf * 2.0  # has a grad_fn: part of a graph


def build_state(spec):
    """A state from its spec: None, a leaf ``{"shape", "seed"}`` (an attached tensor), or a tuple or
    list of specs."""
    if spec is None:
        return None
    if isinstance(spec, dict):
        return attached_leaf(spec["shape"], int(spec["seed"]))
    return type(spec)(build_state(part) for part in spec)


def describe(value):
    """What came back, as data: tensors with whether they are still attached to a graph."""
    if isinstance(value, torch.Tensor):
        return {"tensor": value.detach(), "requires_grad": bool(value.requires_grad),
                "attached": value.grad_fn is not None}
    if isinstance(value, (tuple, list)):
        return type(value)(describe(part) for part in value)
    if value is None:
        return None
    return {"other": type(value).__name__[:100]}


def perform_detach(request: dict, detach_state):
    return describe(detach_state(build_state(request["state"])))


def leaf(shape, seed) -> dict:
    return {"shape": list(shape), "seed": seed}


class DetachCheck(Check):
    """detach_state on None, a GRU tensor, an LSTM pair and nested states: ``case.args`` = (spec,)."""

    name, target, op, rule = "word_lm.detach_state", "detach_state", "word_lm.detach", OWN_DETACH

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return self._cases

    def label(self, case):
        return f"detach_state({case.label})"

    def request(self, case):
        return {"op": self.op, "target": self.target, "state": case.args[0]}

    def expected(self, case):
        def values(spec):  # tuples for tuples and lists: the exercise asks for a tuple
            if spec is None or isinstance(spec, dict):
                return None if spec is None else attached_leaf(spec["shape"], int(spec["seed"])).detach()
            return tuple(values(part) for part in spec)
        return values(case.args[0])

    def compare(self, case, got, expected, name=None):
        name = name or self.label(case)
        if expected is None:
            check_equal(name, got, None)
        elif isinstance(expected, torch.Tensor):
            if not (isinstance(got, dict) and isinstance(got.get("tensor"), torch.Tensor)):
                found = got.get("other") if isinstance(got, dict) else type(got).__name__
                raise CheckFailed(f"{name}: expected a tensor, got a {found}.")
            if got.get("requires_grad") is not False or got.get("attached") is not False:
                raise CheckFailed(f"{name} is still attached to the graph (requires_grad=True): call .detach().")
            check_close(name, got["tensor"], expected, rtol=0.0)
        else:
            if not (isinstance(got, tuple) and len(got) == len(expected)):
                shown = "a list" if isinstance(got, list) else f"a {type(got).__name__}"
                raise CheckFailed(f"{name}: expected a tuple of {len(expected)} parts, got {shown}.")
            for index, (part, reference) in enumerate(zip(got, expected)):
                self.compare(case, part, reference, f"{name}[{index}]")

    def summary(self, count):
        return f"detach_state: correct ({count} cases)"


# -- 3 and 4. a model with the grader's weights --------------------------------------------------------
STATES = {"h": False, "hc": True}  # a case's state: one tensor (as a GRU's), or a pair (as an LSTM's (h, c))


def state_name(kind) -> str:
    return "(h, c)" if kind == "hc" else "h"


def stream_problem(case, init_scale, drop_last):
    """(model, windows) of a case ``args`` = (state, seed, V, H, B, T, length), seeded; ``state`` is "h" (the
    model carries one tensor) or "hc" (a pair); ``context``: ``dropout``, ``uniform`` (the read-out zeroed: a
    model that knows nothing)."""
    kind, seed, V, H, B, T, length = case.args

    def make():
        model = StreamModel(V, H, paired=STATES[kind], dropout=case.context.get("dropout", 0.0))
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.uniform_(-init_scale, init_scale)
            if case.context.get("uniform"):
                model.readout.weight.zero_()
                model.readout.bias.zero_()
        ids = torch.randint(V, (length,))
        return model, list(StreamWindows(batchify_stream(ids, B), T, drop_last=drop_last))

    return seeded(seed, make)


def model_request(op, target, case, model, windows, **extra) -> dict:
    kind, _, V, H, _, _, _ = case.args
    return {"op": op, "target": target, "windows": [list(w) for w in windows], **extra,
            "model": {"paired": STATES[kind], "vocab_size": V, "hidden_size": H,
                      "dropout": case.context.get("dropout", 0.0)},
            "weights": {name: value.detach() for name, value in model.state_dict().items()}}


def rebuild(request: dict) -> StreamModel:
    """The grader's model inside the sandbox, in training mode (dropout on until someone says eval())."""
    spec = request["model"]
    model = StreamModel(int(spec["vocab_size"]), int(spec["hidden_size"]), paired=bool(spec["paired"]),
                        dropout=float(spec["dropout"]))
    model.load_state_dict(request["weights"])
    return model.train()


def windows_of(request: dict) -> list[tuple]:
    return [tuple(window) for window in request["windows"]]


def perform_train_epoch(request: dict, train_epoch):
    model = rebuild(request)
    optimizer = torch.optim.SGD(model.parameters(), lr=float(request["lr"]))
    nll = train_epoch(model, windows_of(request), optimizer, float(request["clip_norm"]))
    return {"nll": nll, "weights": {name: value.detach() for name, value in model.named_parameters()}}


def library_epoch(model, windows, lr, clip_norm, carry=True, summed=True, clip=True):
    """One epoch of course_lib.train.fit (SGD, the state carried and detached, clipping) on ``model``;
    returns the mean NLL per token. The switches give the epochs of three common mistakes."""
    num_steps = windows[0][1].shape[1]
    history = fit(model, windows, optimizer=torch.optim.SGD(model.parameters(), lr=lr), epochs=1,
                  loss_fn=(lambda logits, y: stream_loss(logits, y) * num_steps) if summed else stream_loss,
                  metrics=[TokenNLL(ignore_index=None)], clip_norm=clip_norm if clip else None,
                  carry_state=carry, device="cpu", progress=False)
    return history.last("train_nll")


def flat_weights(weights) -> torch.Tensor:
    return torch.cat([value.detach().reshape(-1).double() for value in weights])


EPOCH_MISTAKES = (("the state is not carried: each window starts from zeros", dict(carry=False)),
                  ("the loss is the mean per token, not summed over the T steps", dict(summed=False)),
                  ("the gradient is not clipped", dict(clip=False)))


class EpochCheck(Check):
    """train_epoch's weights and mean NLL after one epoch against course_lib.train.fit: ``case.args`` =
    (state, seed, V, H, B, T, length) as in :func:`stream_problem`; ``case.kwargs``: lr, clip_norm."""

    name, target, op, rule = "word_lm.train_epoch", "train_epoch", "word_lm.train_epoch", OWN_EPOCH

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return self._cases

    def label(self, case):
        kind, _, _, H, B, T, _ = case.args
        windows = stream_problem(case, 0.3, True)[1]
        return (f"train_epoch(a model carrying {state_name(kind)}, H={H}, {len(windows)} windows of {B}x{T}, "
                f"clip {case.kwargs['clip_norm']})")

    def request(self, case):
        model, windows = stream_problem(case, 0.3, True)
        return model_request(self.op, self.target, case, model, windows, lr=case.kwargs["lr"],
                             clip_norm=case.kwargs["clip_norm"])

    def expected(self, case, **mistake):
        model, windows = stream_problem(case, 0.3, True)
        nll = library_epoch(model, windows, case.kwargs["lr"], case.kwargs["clip_norm"], **mistake)
        return {"nll": nll, "weights": flat_weights(model.parameters())}

    def compare(self, case, got, expected):
        where = self.label(case)
        weights = got.get("weights") if isinstance(got, dict) else None
        if not (isinstance(weights, dict) and all(isinstance(w, torch.Tensor) for w in weights.values())):
            raise CheckFailed(f"{where} could not be run on the check's inputs.")
        got_weights = flat_weights(weights.values())
        if got_weights.shape != expected["weights"].shape or not torch.allclose(
                got_weights, expected["weights"], rtol=1e-4, atol=1e-6):
            for wrong, options in EPOCH_MISTAKES:
                variant = self.expected(case, **options)["weights"]
                if got_weights.shape == variant.shape and torch.allclose(got_weights, variant, rtol=1e-4, atol=1e-6):
                    raise CheckFailed(f"{where}: the weights after the epoch match an epoch in which {wrong}.")
            check_close(f"{where}: the weights after the epoch", got_weights, expected["weights"], rtol=1e-4)
        check_close(f"{where}: the mean NLL per token it returns", number(got.get("nll"), where), expected["nll"],
                    rtol=1e-5)

    def summary(self, count):
        return f"train_epoch: weights and mean NLL per token match course_lib.train.fit ({count} cases)"


def perform_perplexity(request: dict, perplexity_function):
    return perplexity_function(rebuild(request), windows_of(request))


class WindowPerplexities:
    """A metric for course_lib.train.evaluate keeping each window's perplexity (a mistake's value)."""

    name = "window_perplexities"

    def reset(self):
        self.values = []

    def update(self, logits, targets):
        self.values.append(perplexity(logits, targets, ignore_index=None))

    def compute(self):
        return sum(self.values) / len(self.values)


def library_perplexity(model, windows, carry=True, ignore_index=None) -> dict:
    """The perplexity by course_lib.train.evaluate, and what three common mistakes give."""
    results = evaluate(copy.deepcopy(model), windows, loss_fn=stream_loss, carry_state=carry, device="cpu",
                       metrics=[Perplexity(ignore_index=ignore_index), WindowPerplexities()])
    return {"perplexity": results["perplexity"], "mean_window_loss": math.exp(results["loss"]),
            "mean_window_perplexity": results["window_perplexities"]}


PERPLEXITY_MISTAKES = (
    ("mean_window_perplexity", {}, "the mean of the windows' perplexities: add up the NLL and the tokens of all "
                                   "windows, divide once"),
    ("mean_window_loss", {}, "exp of the mean of the windows' mean losses: a short window then counts as much as "
                             "a full one"),
    ("perplexity", {"carry": False}, "what a state reset to zeros at every window gives: carry it through the stream"),
    ("perplexity", {"ignore_index": 0}, "what leaving out id 0 (ignore_index=0) gives: there is no padding in a "
                                        "stream, and id 0 is a word"),
)


class PerplexityCheck(Check):
    """perplexity(model, windows) against course_lib.train.evaluate with Perplexity: ``case.args`` =
    (state, seed, V, H, B, T, length) as in :func:`stream_problem`, the last window may be short;
    ``case.context``: dropout, uniform."""

    name, target, op, rule = "word_lm.perplexity", "perplexity", "word_lm.perplexity", OWN_PERPLEXITY

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return self._cases

    def label(self, case):
        if case.label:
            return case.label
        kind, _, _, H, B, T, _ = case.args
        windows = stream_problem(case, 0.5, False)[1]
        return (f"perplexity(a model carrying {state_name(kind)}, H={H}, dropout {case.context.get('dropout', 0.0)}, {len(windows)} windows "
                f"of {B}x{T}, last {windows[-1][0].shape[1]} wide)")

    def request(self, case):
        return model_request(self.op, self.target, case, *stream_problem(case, 0.5, False))

    def expected(self, case):
        return library_perplexity(*stream_problem(case, 0.5, False))["perplexity"]

    def compare(self, case, got, expected):
        where = self.label(case)
        value = number(got, where)
        if abs(value - expected) <= 1e-5 * expected:
            return
        model, windows = stream_problem(case, 0.5, False)
        for key, options, mistake in PERPLEXITY_MISTAKES:
            wrong = library_perplexity(model, windows, **options)[key]
            if abs(value - wrong) <= 1e-5 * wrong:
                raise CheckFailed(f"{where}: got {value:.4f}, expected {expected:.4f}; your value is {mistake}.")
        raise CheckFailed(f"{where}: got {value:.4f}, expected {expected:.4f}. Check eval() mode (no dropout), the "
                          "state carried from window to window, and one division at the end: total NLL / total tokens.")

    def summary(self, count):
        return f"perplexity: matches course_lib.train.evaluate ({count} cases, a model that knows nothing included)"


CHECKS = {check.name: check for check in [
    CountCheck([Case((929_589, 20, 20)), Case((26, 4, 2))]),
    BatchCheck([Case((26, 4, 2, 0)), Case((500, 5, 7, 1))]),
    DetachCheck([Case((None,), label="None"), Case((leaf((2, 3, 4), 0),), label="GRU state"),
                 Case(((leaf((2, 3, 4), 1), leaf((2, 3, 4), 2)),), label="(h, c)")]),
    EpochCheck([Case(("hc", 0, 30, 8, 4, 5, 4 * (4 * 5 + 1)), {"lr": 1.0, "clip_norm": 1.0})]),
    PerplexityCheck([Case(("hc", 0, 50, 4, 3, 4, 100), context={"uniform": True},
                          label="perplexity of the uniform model over 50 words (it must be 50)"),
                     Case(("hc", 0, 25, 6, 3, 4, 100))]),
]}

# requests this chapter defines (see course_lib.checks.base.chapter_op)
OPS = {"windows": perform_windows, "detach": perform_detach, "train_epoch": perform_train_epoch,
       "perplexity": perform_perplexity}
