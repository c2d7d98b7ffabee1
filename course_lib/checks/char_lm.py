"""Checks of the char_lm chapter (character language models), the student half.

Expected values come from the library students already have (``course_lib.data``'s
``batchify_stream`` and ``StreamWindows``, ``course_lib.sample.generate``), from ``torch.nn``
(``CharRNN``'s parameter count is that of the modules the exercise names), from ``torch.softmax``
and from the loops printed in the chapter. The batching and sampling exercises must not call the
library's versions; that is judged on their source. Hidden cases, and the comparison of CharRNN's
logits with torch.nn holding its weights (a reference implementation of the exercise), are in
``grader/char_lm.py``.

Requests: ``char_rnn`` builds the student's model and runs it whole, twice, and in two halves
carrying the state; ``sample`` hands the student's sampler a fixed model
(:class:`course_lib.checks.models.StreamModel`, weights sent by the grader) and a seeded generator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.checks.base import Case, Check, seeded
from course_lib.checks.models import StreamModel
from course_lib.checks.rules import ForbiddenRule
from course_lib.data import StreamWindows, batchify_stream
from course_lib.grading.checks import CheckFailed, check_close, check_equal, check_shape
from course_lib.sample import generate

OWN_STREAMS = ForbiddenRule(("course_lib.data",), "Write it with slicing and reshape.")
OWN_WINDOWS = ForbiddenRule(("course_lib.data",), "Write it with a loop over the window starts and slicing.")
OWN_SAMPLER = ForbiddenRule(("course_lib.sample",),
                            "Write the loop yourself, with next_char_distribution and torch.multinomial.")


def as_pair(got, where) -> tuple:
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise CheckFailed(f"{where} should be a pair (x, y); got {type(got).__name__}.")
    return tuple(got)


# -- 1. streams and windows ----------------------------------------------------------------------------
class StreamsCheck(Check):
    """make_streams(ids, B) against batchify_stream: ``case.args`` = (N, B), ids 100 .. 100 + N - 1."""

    name, target, rule = "char_lm.make_streams", "make_streams", OWN_STREAMS

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return self._cases

    def label(self, case):
        return f"make_streams(N={case.args[0]}, B={case.args[1]})"

    def request(self, case):
        n, batch_size = case.args
        return {"op": "call", "target": self.target, "args": [torch.arange(100, 100 + n), batch_size], "kwargs": {}}

    def expected(self, case):
        n, batch_size = case.args
        return batchify_stream(torch.arange(100, 100 + n), batch_size)

    def compare(self, case, got, expected):
        check_shape(self.label(case), got, expected.shape)
        check_equal(f"{self.label(case)} rows", got.tolist(), expected.tolist())

    def summary(self, count):
        return f"make_streams: correct ({count} cases)"


class WindowsCheck(Check):
    """tbptt_windows(streams, T) against StreamWindows: ``case.args`` = (rows, length, T), streams
    0 .. rows * length - 1 laid out row by row."""

    name, target, rule = "char_lm.tbptt_windows", "tbptt_windows", OWN_WINDOWS

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return self._cases

    @staticmethod
    def streams(case):
        rows, length, _ = case.args
        return torch.arange(rows * length).reshape(rows, length)

    def label(self, case):
        rows, length, num_steps = case.args
        return f"tbptt_windows(streams {rows}x{length}, T={num_steps})"

    def request(self, case):
        return {"op": "call", "target": self.target, "args": [self.streams(case), case.args[2]], "kwargs": {}}

    def expected(self, case):
        return list(StreamWindows(self.streams(case), case.args[2]))

    def compare(self, case, got, expected):
        where = self.label(case)
        if not isinstance(got, (list, tuple)):
            raise CheckFailed(f"{where} should return a list of (x, y) pairs; got a {type(got).__name__}.")
        check_equal(f"{where}: number of windows", len(got), len(expected))
        for k, (pair, (x, y)) in enumerate(zip(got, expected)):
            got_x, got_y = as_pair(pair, f"{where}: window {k}")
            check_shape(f"{where}: x of window {k}", got_x, x.shape)
            check_equal(f"{where}: x of window {k}", got_x.tolist(), x.tolist())
            check_shape(f"{where}: y of window {k}", got_y, y.shape)
            check_equal(f"{where}: y of window {k} (the next token of each x)", got_y.tolist(), y.tolist())

    def summary(self, count):
        return f"tbptt_windows: correct ({count} cases, short last windows included)"


# -- 2. the model --------------------------------------------------------------------------------------
RECURRENT = {"gru": nn.GRU, "lstm": nn.LSTM}
PART_KINDS = (("embedding", nn.Embedding), ("gru", nn.GRU), ("lstm", nn.LSTM), ("linear", nn.Linear))


def perform_char_rnn(request: dict, model_class):
    """Build the student's model (seeded), in eval mode; run the ids whole, again, then in two halves with
    the state carried. Returns the parameter shapes, the weights of its torch.nn parts and the outputs."""
    torch.manual_seed(int(request["seed"]))
    model = model_class(*request["args"], **request["kwargs"]).eval()
    ids = request["ids"]
    half = ids.shape[1] // 2
    with torch.no_grad():
        logits, state = model(ids)
        again, _ = model(ids)
        first, carried = model(ids[:, :half])
        second, _ = model(ids[:, half:], carried)
    parts = {kind: [{name: value.detach() for name, value in module.state_dict().items()}
                    for module in model.modules() if type(module) is kind_class]
             for kind, kind_class in PART_KINDS}
    return {"parameters": {name: tuple(p.shape) for name, p in model.named_parameters()}, "parts": parts,
            "logits": logits, "again": again, "state": state, "halves": [first, second]}


def named_modules_parameters(V, E, H, layers, cell) -> int:
    """How many parameters the modules the exercise names hold: nn.Embedding(V, E), nn.GRU/LSTM(E, H,
    layers) and nn.Linear(H, V), built on the meta device (no weights drawn, nothing computed)."""
    modules = (nn.Embedding(V, E, device="meta"), RECURRENT[cell](E, H, layers, batch_first=True, device="meta"),
               nn.Linear(H, V, device="meta"))
    return sum(p.numel() for module in modules for p in module.parameters())


class CharRnnCheck(Check):
    """CharRNN's modules and parameter count, output shapes, the same logits twice in eval mode and the state
    carried from one half of a sequence to the other: ``case.args`` = (cell, seed, V, E, H, layers, B, T).

    What needs no reference: the instructor's half (``grader/char_lm.py``) extends it with the logits against
    torch.nn holding the model's own weights (:meth:`compare_logits`)."""

    name, target, op = "char_lm.char_rnn", "CharRNN", "char_lm.char_rnn"

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return self._cases

    def label(self, case):
        cell, _, V, E, H, layers, _, _ = case.args
        return f"CharRNN(V={V}, E={E}, H={H}, num_layers={layers}, cell={cell!r})"

    @staticmethod
    def ids(case):
        _, seed, V, _, _, _, B, T = case.args
        return torch.randint(V, (B, T), generator=torch.Generator().manual_seed(seed))

    def request(self, case):
        cell, seed, V, E, H, layers, _, _ = case.args
        return {"op": self.op, "target": self.target, "args": [V, E, H],
                "kwargs": {"num_layers": layers, "cell": cell, "dropout": 0.1}, "seed": seed, "ids": self.ids(case)}

    def expected(self, case):
        cell, _, V, E, H, layers, B, T = case.args
        return {"count": named_modules_parameters(V, E, H, layers, cell), "logits": (B, T, V), "state": (layers, B, H)}

    def compare(self, case, got, expected):
        where, cell = self.label(case), case.args[0]
        if not isinstance(got, dict) or not isinstance(got.get("parameters"), dict):
            raise CheckFailed(f"{where} could not be run on the check's inputs.")
        parts = got.get("parts") if isinstance(got.get("parts"), dict) else {}
        if [len(parts.get(kind) or []) for kind in ("embedding", cell, "linear")] != [1, 1, 1]:
            raise CheckFailed(f"{where} should be one nn.Embedding, one nn.{cell.upper()} (batch_first) and one "
                              "nn.Linear, as the exercise says.")
        shapes = got["parameters"].values()
        count = sum(int(torch.Size(shape).numel()) for shape in shapes if isinstance(shape, tuple))
        check_equal(f"{where}: number of parameters", count, expected["count"])
        logits = got.get("logits")
        check_shape(f"{where}: logits", logits, expected["logits"])
        state = got.get("state")
        if cell == "lstm" and not (isinstance(state, (tuple, list)) and len(state) == 2):
            raise CheckFailed(f"{where}: an LSTM's state should be the pair (h, c).")
        for part in state if cell == "lstm" else (state,):
            check_shape(f"{where}: state", part, expected["state"])
        self.compare_logits(case, got, logits)
        again = got.get("again")
        if not (isinstance(again, torch.Tensor) and again.shape == logits.shape
                and torch.allclose(again, logits, rtol=1e-6, atol=1e-7)):
            raise CheckFailed(f"{where}: two runs on the same ids in eval mode gave different logits. After "
                              "model.eval() dropout must be off: use nn.Dropout (eval() switches it off), not "
                              "F.dropout(..., training=True).")
        halves = got.get("halves")
        if not (isinstance(halves, list) and len(halves) == 2 and all(isinstance(h, torch.Tensor) for h in halves)):
            raise CheckFailed(f"{where}: forward(ids, state) should return (logits, state).")
        for k, half in enumerate(halves):
            check_shape(f"{where}: logits of half {k + 1}", half, (logits.shape[0], half.shape[1], logits.shape[2]))
        check_close(f"{where}: logits of two halves, the state carried between them", torch.cat(halves, 1), logits,
                    rtol=1e-5, atol=1e-6)

    def compare_logits(self, case, got, logits) -> None:
        """The logits' values: nothing to compare them with here (the grader's check does)."""

    def summary(self, count):
        return (f"CharRNN: parameter count, shapes, eval-mode logits and carried state right ({count} cases; the "
                "grader also compares the logits with torch.nn holding your weights)")


# -- 4. the next-character distribution ----------------------------------------------------------------
class DistributionCheck(Check):
    """next_char_distribution against softmax(logits / T) and the one-hot argmax at T = 0:
    ``case.args`` = (seed, B, V, T, scale)."""

    name, target = "char_lm.next_char_distribution", "next_char_distribution"

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return self._cases

    @staticmethod
    def logits(case):
        seed, B, V, _, scale = case.args
        return scale * torch.randn(B, V, generator=torch.Generator().manual_seed(seed))

    def label(self, case):
        return f"next_char_distribution(T={case.args[3]:g}) with logits of scale {case.args[4]:g}"

    def request(self, case):
        return {"op": "call", "target": self.target, "args": [self.logits(case), case.args[3]], "kwargs": {}}

    def expected(self, case):
        logits, temperature = self.logits(case), case.args[3]
        if temperature == 0:
            return F.one_hot(logits.argmax(-1), logits.shape[-1]).double()
        return torch.softmax(logits.double() / temperature, -1)

    def compare(self, case, got, expected):
        where, temperature = self.label(case), case.args[3]
        check_shape(where, got, tuple(expected.shape))
        if temperature not in (0, 1):
            inverse = torch.softmax(self.logits(case).double() * temperature, -1)
            if torch.allclose(got.double(), inverse, atol=1e-6):
                raise CheckFailed(f"{where} equals softmax(logits * T): that is the inverse temperature. "
                                  "This course divides the logits by T.")
        check_close(where, got, expected, rtol=1e-5, atol=1e-7)

    def summary(self, count):
        return f"next_char_distribution: softmax(logits / T), argmax at T = 0, no overflow ({count} cases)"


# -- 5. the sampler ------------------------------------------------------------------------------------
def fixed_model(seed, dropout=0.0) -> StreamModel:
    """A small stream model (course_lib.checks.models, not an exercise's answer) with its logits scaled up
    so that the draws matter, optionally with dropout: a sampler must switch it off (eval mode)."""
    def make():
        model = StreamModel(20, 24, code_size=8, dropout=dropout)
        with torch.no_grad():
            model.readout.weight.mul_(6.0)
        return model

    return seeded(seed, make)


def perform_sample(request: dict, sample):
    """The student's sample() on the fixed model holding the grader's weights, handed over in train mode."""
    model = StreamModel(20, 24, code_size=8, dropout=float(request["dropout"]))
    model.load_state_dict(request["weights"])
    model.train()
    return sample(model, torch.tensor(request["prompt"]), int(request["num_chars"]), float(request["temperature"]),
                  torch.Generator().manual_seed(int(request["draw_seed"])))


class SampleCheck(Check):
    """sample() against course_lib.sample.generate on a fixed model with seeded draws: ``case.args`` =
    (model seed, prompt, num_chars, T, draw seed); ``case.kwargs`` may set the model's dropout."""

    name, target, op, rule = "char_lm.sample", "sample", "char_lm.sample", OWN_SAMPLER

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return self._cases

    def label(self, case):
        seed, prompt, num_chars, temperature, draw_seed = case.args
        return (f"sample(model seed {seed}, prompt {list(prompt)}, {num_chars} chars, T={temperature:g}, "
                f"draws seeded {draw_seed})")

    def request(self, case):
        seed, prompt, num_chars, temperature, draw_seed = case.args
        dropout = case.kwargs.get("dropout", 0.0)
        return {"op": self.op, "target": self.target, "dropout": dropout, "prompt": list(prompt),
                "weights": fixed_model(seed, dropout).state_dict(), "num_chars": num_chars,
                "temperature": temperature, "draw_seed": draw_seed}

    def expected(self, case):
        seed, prompt, num_chars, temperature, draw_seed = case.args
        model = fixed_model(seed, case.kwargs.get("dropout", 0.0))
        return generate(model, [list(prompt)], max_new_tokens=num_chars, temperature=temperature,
                        generator=torch.Generator().manual_seed(draw_seed))[0]

    def compare(self, case, got, expected):
        where = self.label(case)
        if not isinstance(got, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in got):
            raise CheckFailed(f"{where} should return a list of ints; got a {type(got).__name__}.")
        if got != expected:
            first = next((k for k, (a, e) in enumerate(zip(got, expected)) if a != e), min(len(got), len(expected)))
            raise CheckFailed(f"{where} differs from the reference at position {first}:\n  got      {got}\n  "
                              f"expected {expected}\nCheck: eval() mode; the prompt is read first and sampling starts "
                              "from its LAST logits; one torch.multinomial(p, 1, generator=generator) per character "
                              "(argmax for T = 0); each new id is fed back.")

    def summary(self, count):
        return f"sample: ids identical to the reference sampler ({count} cases)"


# -- 6. greedy loops -----------------------------------------------------------------------------------
def loop_case(sequence, expected, min_repeats=3) -> Case:
    """find_loop(sequence, min_repeats) must be ``expected`` (the chapter's worked answers)."""
    return Case((sequence, min_repeats), context={"expected": expected})


class LoopCheck(Check):
    """find_loop on strings and lists against worked answers: ``case.context["expected"]``."""

    name, target = "char_lm.find_loop", "find_loop"

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return self._cases

    def label(self, case):
        sequence, min_repeats = case.args
        shown = sequence if len(sequence) < 60 else f"{sequence[:57]}..."
        return f"find_loop({shown!r}, min_repeats={min_repeats})"

    def expected(self, case):
        return case.context["expected"]

    def compare(self, case, got, expected):
        check_equal(self.label(case), tuple(got) if isinstance(got, (tuple, list)) else got, expected)

    def summary(self, count):
        return f"find_loop: correct ({count} cases)"


CHECKS = {check.name: check for check in [
    StreamsCheck([Case((26, 4)), Case((24, 4))]),
    WindowsCheck([Case((4, 6, 2)), Case((3, 9, 4))]),  # the picture: 5 targets per row -> windows of 2, 2 and 1
    CharRnnCheck([Case(("gru", 0, 11, 5, 7, 1, 3, 8)), Case(("lstm", 0, 11, 5, 7, 2, 3, 8))]),
    DistributionCheck([Case((0, 2, 6, temperature, 3.0)) for temperature in (1.0, 0.5, 2.0, 0.0)]
                      + [Case((1, 3, 5, 0.7, 400.0))]),  # no overflow
    SampleCheck([Case((0, (1, 2, 3), 12, 0.0, 0)), Case((0, (1, 2, 3), 12, 1.0, 0))]),
    LoopCheck([loop_case("so the king, the king, the king, the king,", (2, 10)), loop_case("abcd", (None, None)),
               loop_case("xyzzzz", (2, 1)), loop_case([5, 1, 2, 1, 2, 1, 2], (1, 2))]),
]}

# requests this chapter defines (see course_lib.checks.base.chapter_op)
OPS = {"char_rnn": perform_char_rnn, "sample": perform_sample}
