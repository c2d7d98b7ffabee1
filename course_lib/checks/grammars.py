"""Checks of the grammars chapter (formal languages and a language model), the student half.

Expected values: recognisers against strings whose membership is written out (hidden strings are
judged by the course library's own validators in the grader); the loss against a loop over the
real targets and autograd's gradients of it; a training step against the same step taken with
PyTorch's optimizer on a copy of the model; the valid fraction against counts written out. The
recognisers must not use the library's validators or a regular expression: judged on the source.
Hidden cases are in ``grader/grammars.py``.

Requests: ``each`` calls a recogniser once per string; ``lm_loss`` and ``train_step`` rebuild the
notebook's (given) language model with the grader's weights and call the student's function on
the grader's batch. ``train_step`` runs with the reference loss in place of the student's
``lm_loss``, as the test cell always did, so that only the step is graded.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.checks.base import Case, Check, EachCheck, outcomes_of, perform_each, seeded
from course_lib.checks.rules import ForbiddenRule
from course_lib.data import grammars
from course_lib.data.vocab import END_ID, PAD_ID, START_ID
from course_lib.grading.checks import CheckFailed, check_close

VALIDATORS = ("course_lib.data.grammars", "grammars")
COUNTER_FROM_SCRATCH = ForbiddenRule(VALIDATORS, "It calls the course library's validator; write the counter yourself.")
AUTOMATON_FROM_SCRATCH = ForbiddenRule(
    ("re", "regex") + VALIDATORS, "This exercise asks for the automaton itself (no regular expression, no library "
    "validator): a transition table and a loop over the characters.")


# -- recognisers -------------------------------------------------------------------------------------
def strings_case(cases, label="") -> Case:
    """A recogniser on ``cases`` = [(text, expected bool), ...], one request."""
    return Case(([(text,) for text, _ in cases],), context={"expected": [bool(e) for _, e in cases]}, label=label)


class RecogniserCheck(EachCheck):
    """A recogniser (text -> True/False) on strings whose answers are known."""

    op = "grammars.each"

    def __init__(self, name, target, rule, cases):
        super().__init__(cases)
        self.name, self.target, self.rule = name, target, rule

    def label(self, case):
        return case.label or f"{self.target} on {len(case.args[0])} strings"

    def compare(self, case, got, expected):
        texts = [args[0] for args in case.args[0]]
        for text, outcome, want in zip(texts, outcomes_of(got, len(texts), self.target), expected):
            if outcome[0] == "raised":
                raise CheckFailed(f"{self.target}({text!r}) raised {outcome[1]}: {outcome[2]}")
            value = outcome[1]
            if value is not want and value != want:
                raise CheckFailed(f"{self.target}({text!r}) returned {value!r}, expected {want}.")
            if not isinstance(value, bool):
                raise CheckFailed(f"{self.target}({text!r}) returned {value!r}; return True or False.")

    def summary(self, count):
        return f"{self.target}: {sum(len(c.args[0]) for c in self.visible_cases())} strings right"


# -- the language model: the notebook's given class, rebuilt with the grader's weights ------------------
class LanguageModel(nn.Module):
    """Embedding -> LSTM -> Linear, as the notebook gives it (the same parameter names)."""

    def __init__(self, vocab_size, embedding_size, hidden_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=PAD_ID)
        self.lstm = nn.LSTM(embedding_size, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids, state=None):
        outputs, state = self.lstm(self.embedding(ids), state)
        return self.head(outputs), state


def model_problem(case):
    """(sizes [V, E, H], weights, ids (N, T)) of a case: ``args`` = (language, sentences, E, H, max_len)."""
    language, sentences, embedding, hidden, max_len = case.args
    sizes = [len(grammars.encoding_vocabulary(language)), embedding, hidden]

    def make():
        return {name: value.detach() for name, value in LanguageModel(*sizes).state_dict().items()}

    ids, _ = grammars.encode(language, grammars.generate(language, sentences, seed=case.seed, max_len=max_len))
    return sizes, seeded(case.seed, make), ids


def rebuilt_model(sizes, weights) -> LanguageModel:
    model = LanguageModel(*sizes)
    model.load_state_dict(weights)
    return model


def loop_lm_loss(model, ids):
    """The mean of -log p(target) over the real (non-pad) targets, one target at a time."""
    logits, _ = model(ids[:, :-1])
    log_probs = torch.log_softmax(logits, dim=-1)
    total, count = 0.0, 0
    for b in range(ids.shape[0]):
        for t in range(ids.shape[1] - 1):
            target = int(ids[b, t + 1])
            if target != PAD_ID:
                total = total - log_probs[b, t, target]
                count += 1
    return total / count


def more_padding(ids, columns=7):
    return torch.cat([ids, torch.full((ids.shape[0], columns), PAD_ID)], dim=1)


def perform_lm_loss(request: dict, lm_loss) -> dict:
    """The student's loss on the batch and on the batch with more padding, and its gradients."""
    model = rebuilt_model(request["sizes"], request["weights"])
    loss = lm_loss(model, request["ids"])
    if not isinstance(loss, torch.Tensor):
        return {"loss": loss}
    answer = {"loss": loss.detach(), "has_graph": bool(loss.requires_grad)}
    if loss.requires_grad and loss.dim() == 0:
        names = [name for name, _ in model.named_parameters()]
        grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
        answer["grads"] = {name: g for name, g in zip(names, grads) if g is not None}
    padded = lm_loss(model, more_padding(request["ids"]))
    answer["padded"] = padded.detach() if isinstance(padded, torch.Tensor) else padded
    return answer


def loss_case(language, sentences, embedding, hidden, seed) -> Case:
    return Case((language, sentences, embedding, hidden, 40), seed=seed,
                label=f"lm_loss on {sentences} {language} sentences")


class ModelCheck(Check):
    """A function of the language model and a batch: the request carries the model's sizes and the
    grader's weights (the sandbox rebuilds it), the batch, and the case's keyword arguments."""

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return self._cases

    def request(self, case):
        sizes, weights, ids = model_problem(case)
        return {"op": self.op, "target": self.target, "sizes": sizes, "weights": weights, "ids": ids, **case.kwargs}


class LossCheck(ModelCheck):
    """lm_loss: a scalar tensor with a graph, the mean over real targets only, padding-blind."""

    name, target, op = "grammars.lm_loss", "lm_loss", "grammars.lm_loss"

    def expected(self, case):
        sizes, weights, ids = model_problem(case)
        model = rebuilt_model(sizes, weights)
        loss = loop_lm_loss(model, ids)
        grads = dict(zip([name for name, _ in model.named_parameters()],
                         torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)))
        with torch.no_grad():
            logits, _ = model(ids[:, :-1])
            pads_counted = F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
        return {"loss": loss.detach(), "grads": grads, "pads_counted": pads_counted}

    def compare(self, case, got, expected):
        if not isinstance(got, dict):
            raise CheckFailed(f"{self.label(case)} could not be computed.")
        loss = got.get("loss")
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            raise CheckFailed(f"lm_loss should return a scalar tensor; got {loss!r}.")
        if got.get("has_graph") is not True:
            raise CheckFailed("lm_loss returned a tensor without a graph: do not call .item() or .detach() on it.")
        value, wanted, unmasked = float(loss), float(expected["loss"]), float(expected["pads_counted"])
        if abs(value - unmasked) <= 1e-5 * abs(unmasked) and abs(value - wanted) > 1e-5 * abs(wanted):
            raise CheckFailed(f"lm_loss = {value:.5f} is the mean over ALL targets, .pad included (expected "
                              f"{wanted:.5f}); pass ignore_index=PAD_ID to F.cross_entropy.")
        check_close(self.label(case), loss, expected["loss"], rtol=1e-5)
        padded = got.get("padded")
        if not isinstance(padded, torch.Tensor):
            raise CheckFailed(f"lm_loss with 7 extra .pad columns returned {padded!r}; expected a scalar tensor.")
        check_close("lm_loss with 7 extra .pad columns (padding must not count)", padded, expected["loss"], rtol=1e-5)
        grads = got.get("grads") if isinstance(got.get("grads"), dict) else {}
        for name, reference in expected["grads"].items():
            if reference is not None and name not in grads:
                raise CheckFailed(f"lm_loss does not depend on {name}: compute it from the model's logits, "
                                  "with differentiable tensor operations.")
            if reference is not None:
                check_close(f"the gradient of lm_loss with respect to {name} ({self.label(case)})",
                            grads.get(name), reference, rtol=1e-4, atol=1e-6)

    def summary(self, count):
        return "lm_loss: the mean over real targets, gradients right; extra padding changes nothing"


# -- one training step -----------------------------------------------------------------------------------
def reference_lm_loss(model, ids):
    """The loss that stands in for the student's while their train_step is checked."""
    logits, _ = model(ids[:, :-1])
    return F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten(), ignore_index=PAD_ID)


@contextlib.contextmanager
def reference_loss_in(function):
    """The notebook's ``lm_loss`` (what ``function`` reads from its globals) replaced by the reference."""
    namespace = getattr(function, "__globals__", None)
    if not isinstance(namespace, dict):
        yield
        return
    missing = object()
    theirs = namespace.get("lm_loss", missing)
    namespace["lm_loss"] = reference_lm_loss
    try:
        yield
    finally:
        if theirs is missing:
            namespace.pop("lm_loss", None)
        else:
            namespace["lm_loss"] = theirs


LEARNING_RATE, STEPS = 0.5, 2  # two steps: the second fails if the first step's gradients are kept


def perform_train_step(request: dict, train_step) -> list:
    """Two calls of the student's step on the batch; what each returned and the weights after it."""
    model = rebuilt_model(request["sizes"], request["weights"])
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    steps = []
    with reference_loss_in(train_step):
        for _ in range(STEPS):
            returned = train_step(model, optimizer, request["ids"], request["clip_norm"])
            steps.append({"returned": returned,
                          "weights": {name: p.detach().clone() for name, p in model.named_parameters()}})
    return steps


def step_case(language, clip_norm, seed) -> Case:
    return Case((language, 6, 5, 7, 30), {"clip_norm": clip_norm}, seed=seed,
                label=f"train_step on {language}, clip_norm={clip_norm}")


def as_float(value):
    """A returned loss or norm as a float (a Python number or a one-element tensor), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value)
    return None


class TrainStepCheck(ModelCheck):
    """train_step: loss, gradient norm before clipping and weights after each of two steps."""

    name, target, op = "grammars.train_step", "train_step", "grammars.train_step"

    def expected(self, case):
        sizes, weights, ids = model_problem(case)
        model = rebuilt_model(sizes, weights)
        optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
        steps = []
        for _ in range(STEPS):
            optimizer.zero_grad()
            loss = reference_lm_loss(model, ids)
            loss.backward()
            norm = float(nn.utils.clip_grad_norm_(model.parameters(), case.kwargs["clip_norm"]))
            optimizer.step()
            steps.append({"loss": loss.item(), "norm": norm,
                          "weights": {name: p.detach().clone() for name, p in model.named_parameters()}})
        return steps

    def compare(self, case, got, expected):
        clip_norm = case.kwargs["clip_norm"]
        if not (isinstance(got, list) and len(got) == STEPS and all(isinstance(s, dict) for s in got)):
            raise CheckFailed(f"{self.label(case)} could not be run for two steps.")
        for step, (mine, reference) in enumerate(zip(got, expected), start=1):
            returned = mine.get("returned")
            if not (isinstance(returned, tuple) and len(returned) == 2):
                raise CheckFailed(f"train_step should return the tuple (loss, grad_norm); got {returned!r}.")
            loss, norm = as_float(returned[0]), as_float(returned[1])
            if loss is None or norm is None:
                raise CheckFailed(f"train_step should return two numbers (loss, grad_norm); got {returned!r}.")
            if step == 2 and abs(norm - reference["norm"]) > 1e-5 * reference["norm"]:
                raise CheckFailed(f"the first step was right, the second not: its gradient norm is {norm:.5g}, "
                                  f"expected {reference['norm']:.5g}. Clear the old gradients "
                                  "(optimizer.zero_grad()) before backward().")
            check_close(f"step {step}: the loss train_step returned", loss, reference["loss"], rtol=1e-5)
            check_close(f"step {step}: the gradient norm train_step returned (before clipping)", norm,
                        reference["norm"], rtol=1e-5)
            weights = mine.get("weights") if isinstance(mine.get("weights"), dict) else {}
            for name, value in reference["weights"].items():
                check_close(f"step {step}, clip_norm={clip_norm}: {name} after the update", weights.get(name), value,
                            rtol=1e-5, atol=1e-7)

    def summary(self, count):
        return f"train_step: loss, norm and weights right after two steps ({count} cases, clipped and not)"


# -- the valid fraction --------------------------------------------------------------------------------
def fraction_case(language, rows, expected) -> Case:
    """valid_fraction on ``rows`` = [(prompt tokens, new tokens, ended with .end), ...]."""
    ids_of = grammars.encoding_vocabulary(language).encode
    prompts = [[START_ID] + ids_of(list(prompt)) for prompt, _, _ in rows]
    continuations = [ids_of(list(new)) + ([END_ID] if ended else []) for _, new, ended in rows]
    return Case((language, prompts, continuations), context={"expected": expected},
                label=f"valid_fraction on {len(rows)} {language} rows")


class FractionCheck(Check):
    """valid_fraction against the fraction of valid, finished rows written out for each case."""

    name, target = "grammars.valid_fraction", "valid_fraction"

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return self._cases

    def expected(self, case):
        return case.context["expected"]

    def compare(self, case, got, expected):
        if as_float(got) is None:
            raise CheckFailed(f"{self.label(case)} returned {got!r}; expected a number between 0 and 1.")
        got = as_float(got)
        language, prompts, continuations = case.args
        texts = grammars.decode(language, [p + c for p, c in zip(prompts, continuations)])
        ignoring_end = sum(grammars.is_valid(language, text) for text in texts) / len(texts)
        if got != expected and abs(got - ignoring_end) < 1e-12:
            raise CheckFailed(f"valid_fraction = {got:.3f} counts rows that never wrote .end (expected "
                              f"{expected:.3f}); a row is valid only if its continuation ends with END_ID.")
        check_close(self.label(case), got, expected, rtol=1e-9)

    def summary(self, count):
        return "valid_fraction: the fraction of finished, valid rows is right"


CHECKS = {check.name: check for check in [
    RecogniserCheck("grammars.is_dyck", "is_dyck", COUNTER_FROM_SCRATCH, [strings_case([
        ("()", True), ("(())()", True), ("()()", True), ("((()())())", True), ("", False), (")(", False),
        ("(()", False), ("())(", False), ("(a)", False), ("( )", False), ("((((", False)])]),
    RecogniserCheck("grammars.ndfa_accepts", "ndfa_accepts", AUTOMATON_FROM_SCRATCH, [strings_case([
        ("ss", True), ("sabc!s", True), ("sklm!klm!s", True), ("sabc!abc!uvw!klm!klm!s", True), ("suvw!klm!s", True),
        ("suvw!abc!s", False), ("sklm!uvw!s", False), ("sab!s", False), ("sabc!", False), ("abc!s", False),
        ("s", False), ("", False), ("sabcs", False), ("sabc!ss", False), ("sabc!sabc!s", False), ("sxyz!s", False)])]),
    LossCheck([loss_case("brackets", 5, 4, 6, seed=0)]),
    TrainStepCheck([step_case("brackets", 0.05, seed=0), step_case("brackets", 1e6, seed=0)]),
    FractionCheck([fraction_case("brackets", [("", "()", True),     # valid
                                              ("", "(())", False),  # balanced but unfinished: no .end
                                              ("", "(()", True),    # ended but not balanced
                                              ("((", "))", True),   # valid only together with its prompt
                                              ("(", ")(", True)],   # prompt and continuation unbalanced
                                  2 / 5)]),
]}

# requests this chapter defines (see course_lib.checks.base.chapter_op)
OPS = {"each": perform_each, "lm_loss": perform_lm_loss, "train_step": perform_train_step}
