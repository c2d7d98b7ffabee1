"""Checks of the baum_sweet chapter (the Baum–Sweet sequence as a long-range task), the student half.

Expected values: the sequence's published terms (OEIS A086747) and labels written out for a few
larger numbers; the codes of a number from its binary string (what the test cell always showed);
the classifier's logits from ``torch.nn``'s own LSTM or GRU and Linear, loaded with the same
weights as the student's model. The label and the codes must not come from the course library's
versions (``course_lib.data.baum_sweet``): judged on the source. Hidden cases (random and
structured numbers, every length setting, other sizes) are in ``grader/baum_sweet.py``.

Requests: ``each`` calls the student's function once per input, every outcome (a value or the
error raised) kept apart; ``classifier`` builds the student's model, reports its layers, loads
the grader's weights and returns its logits for the grader's codes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.checks.base import Case, Check, EachCheck, outcomes_of, perform_each, seeded
from course_lib.checks.rules import ForbiddenRule
from course_lib.grading.checks import CheckFailed, check_close, check_equal, check_shape

LIBRARY = ("course_lib.data.baum_sweet",)
LABEL_FROM_SCRATCH = ForbiddenRule(LIBRARY, "Write it from the definition, with string or integer operations.")
CODES_FROM_SCRATCH = ForbiddenRule(LIBRARY, "Build the list of codes yourself.")

# OEIS A086747, b(0) to b(31): the first 32 terms of the Baum–Sweet sequence.
A086747 = [1, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1]


def zero_blocks(n: int) -> list[int]:
    """The lengths of the blocks of zeros of n in binary (most significant bit first)."""
    return [len(block) for block in format(n, "b").split("1") if block]


class LabelCheck(EachCheck):
    """baum_sweet_label on numbers whose labels are known: ``expected`` is a list of 0/1."""

    name, target, op, rule = "baum_sweet.baum_sweet_label", "baum_sweet_label", "baum_sweet.each", LABEL_FROM_SCRATCH

    def compare(self, case, got, expected):
        numbers = [args[0] for args in case.args[0]]
        for n, outcome, want in zip(numbers, outcomes_of(got, len(numbers), self.target), expected):
            if outcome[0] == "raised":
                raise CheckFailed(f"baum_sweet_label({n}) raised {outcome[1]}: {outcome[2]}")
            value = outcome[1]
            if not (isinstance(value, (bool, int, float)) and value in (0, 1) and int(value) == want):
                raise CheckFailed(f"baum_sweet_label({n}) returned {value!r}, expected {want}: {n} is {n:b} in "
                                  f"binary, its blocks of zeros have lengths {zero_blocks(n) or 'none'}.")

    def summary(self, count):
        return "the first 32 terms and four larger numbers are right"


def expected_codes(n: int, T: int) -> list[int]:
    bits = [2 if bit == "1" else 1 for bit in format(n, "b")]
    return [0] * (4 * T - len(bits)) + bits


TOO_LARGE = "ValueError"  # the answer expected of encode for a number with more than 4T bits


def encode_case(pairs, label="") -> Case:
    """encode on (n, T) pairs; the answer is the codes, or ValueError when n needs more than 4T bits."""
    expected = [TOO_LARGE if n >= 2 ** (4 * T) else expected_codes(n, T) for n, T in pairs]
    return Case((list(pairs),), context={"expected": expected}, label=label)


class EncodeCheck(EachCheck):
    """encode's codes (shape, dtype, values) and its ValueError for a number that does not fit."""

    name, target, op, rule = "baum_sweet.encode", "encode", "baum_sweet.each", CODES_FROM_SCRATCH

    def compare(self, case, got, expected):
        pairs = case.args[0]
        for (n, T), outcome, want in zip(pairs, outcomes_of(got, len(pairs), self.target), expected):
            call = f"encode({n}, {T})"
            if want == TOO_LARGE:
                if outcome[0] != "raised" or outcome[1] != "ValueError":
                    found = f"raised {outcome[1]}" if outcome[0] == "raised" else "returned"
                    raise CheckFailed(f"{call} should raise ValueError: {n} needs {n.bit_length()} bits, more "
                                      f"than 4T = {4 * T}; it {found}.")
                continue
            if outcome[0] == "raised":
                raise CheckFailed(f"{call} raised {outcome[1]}: {outcome[2]}")
            codes = outcome[1]
            if not isinstance(codes, torch.Tensor):
                raise CheckFailed(f"{call} should return a torch tensor; got {codes!r}.")
            check_shape(call, codes, (4 * T,))
            if codes.dtype != torch.long:
                raise CheckFailed(f"{call} has dtype {codes.dtype}; use torch.long (embedding and one_hot need it).")
            check_equal(f"{call} ({n} = {n:b} in binary)", codes.tolist(), want)

    def summary(self, count):
        return "encode is right on the visible examples"


# -- the classifier: the student's model with the grader's weights, against torch.nn ------------------
RECURRENT = {"lstm": nn.LSTM, "gru": nn.GRU}


def reference_classifier(kind: str, hidden: int) -> nn.Module:
    """The classifier as the exercise describes it, from torch.nn's own layers."""
    model = nn.Module()
    model.rnn = RECURRENT[kind](input_size=3, hidden_size=hidden, batch_first=True)
    model.head = nn.Linear(hidden, 2)
    return model


def classifier_case(kind, hidden, B, L, seed) -> Case:
    """Weights and codes drawn from ``seed``: ``args`` go to the student's class, the rest to the request."""
    return Case((kind, hidden), context={"B": B, "L": L}, seed=seed)


def classifier_problem(case):
    """(weights, codes (B, L)) of a case: the weights of the reference model, drawn from the seed."""
    kind, hidden = case.args

    def make():
        weights = {name: value.detach() for name, value in reference_classifier(kind, hidden).state_dict().items()}
        return weights, torch.randint(3, (case.context["B"], case.context["L"]))

    return seeded(case.seed, make)


def perform_classifier(request: dict, model_class) -> dict:
    """Build the student's model, say what its layers are, load the weights sent and score the codes."""
    model = model_class(*request["args"])
    rnn, head = getattr(model, "rnn", None), getattr(model, "head", None)
    layers = {"rnn": type(rnn).__name__, "head": type(head).__name__,
              "rnn_config": {key: getattr(rnn, key, None) for key in ("input_size", "hidden_size", "batch_first",
                                                                     "num_layers")},
              "head_shape": (getattr(head, "in_features", None), getattr(head, "out_features", None)),
              "parameters": sorted(name for name, _ in model.named_parameters())}
    try:
        model.load_state_dict(request["weights"])
    except (RuntimeError, KeyError) as error:
        return {"layers": layers, "loaded": str(error)[:300]}
    model.eval()
    with torch.no_grad():
        return {"layers": layers, "loaded": "", "logits": model(request["codes"])}


class ClassifierCheck(Check):
    """BaumSweetClassifier's layers, and its logits against the same weights in torch.nn's layers:
    ``case.args`` = (kind, H), ``case.context`` = batch B and length L, ``case.seed`` draws both."""

    name, target, op = "baum_sweet.classifier", "BaumSweetClassifier", "baum_sweet.classifier"

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return self._cases

    def label(self, case):
        kind, hidden = case.args
        return f'BaumSweetClassifier("{kind}", {hidden})'

    def request(self, case):
        weights, codes = classifier_problem(case)
        return {"op": self.op, "target": self.target, "args": list(case.args), "weights": weights, "codes": codes}

    def expected(self, case):
        """The logits from the last position (what is asked) and from the first (a common slip)."""
        weights, codes = classifier_problem(case)
        model = reference_classifier(*case.args)
        model.load_state_dict(weights)
        with torch.no_grad():
            outputs, _ = model.rnn(F.one_hot(codes, 3).float())   # (B, L, H)
            return {"last": model.head(outputs[:, -1]), "first": model.head(outputs[:, 0])}

    def _check_layers(self, case, layers):
        kind, hidden = case.args
        wanted = RECURRENT[kind].__name__
        if layers.get("rnn") != wanted:
            raise CheckFailed(f"{self.label(case)}.rnn should be an nn.{wanted}; got {layers.get('rnn')}.")
        config = layers.get("rnn_config") if isinstance(layers.get("rnn_config"), dict) else {}
        for key, want in (("input_size", 3), ("hidden_size", hidden), ("batch_first", True), ("num_layers", 1)):
            check_equal(f"{kind}: rnn.{key}", config.get(key), want)
        if layers.get("head") != "Linear" or layers.get("head_shape") != (hidden, 2):
            raise CheckFailed(f"head should be nn.Linear({hidden}, 2); got a {layers.get('head')} "
                              f"with (in, out) = {layers.get('head_shape')}.")

    def compare(self, case, got, expected):
        if not (isinstance(got, dict) and isinstance(got.get("layers"), dict)):
            raise CheckFailed(f"{self.label(case)} could not be built.")
        kind, hidden = case.args
        self._check_layers(case, got["layers"])
        if got.get("loaded") != "":
            raise CheckFailed(f"{self.label(case)} has the parameters {got['layers'].get('parameters')}; expected "
                              "only those of self.rnn and self.head.")
        logits, B = got.get("logits"), case.context["B"]
        codes_shape = (B, case.context["L"])
        check_shape(f"{kind} logits for codes {codes_shape}", logits, (B, 2))
        if torch.allclose(logits.float(), expected["first"], atol=1e-6) \
                and not torch.allclose(logits.float(), expected["last"]):
            raise CheckFailed(f"{kind}: the logits come from the FIRST position; score the output at the last "
                              "position, outputs[:, -1], which holds the last bit.")
        check_close(f"{kind} logits (the head applied to the output at the last position)",
                    logits, expected["last"], rtol=1e-6, atol=1e-6)

    def summary(self, count):
        return f"BaumSweetClassifier: layers and logits right ({count} cases, LSTM and GRU)"


CHECKS = {check.name: check for check in [
    LabelCheck([Case(([(n,) for n in range(32)],), context={"expected": A086747}, label="b(0) to b(31)"),
                Case(([(2**20,), (2**21,), (0b1001001,), (0b10010001,)],), context={"expected": [1, 0, 1, 0]})]),
    EncodeCheck([encode_case([(10, 4), (9, 4), (10**5, 5), (2**24 - 1, 6), (2**16, 4)])]),
    ClassifierCheck([classifier_case("lstm", 5, B=4, L=16, seed=0), classifier_case("gru", 5, B=4, L=16, seed=0)]),
]}

# requests this chapter defines (see course_lib.checks.base.chapter_op)
OPS = {"each": perform_each, "classifier": perform_classifier}
