"""What a chapter's check is made of, for both places it runs: the student's kernel and the grader.

A :class:`Check` names the student's object (``target``), how to ask it for a value (a
:class:`Case` becomes a request: call a function, or build a module and call its methods), how
to compute the expected value *without* the student's code (``expected``: torch.nn, autograd,
published numbers) and how to compare (``compare``, raising :class:`CheckFailed` with a message
that says what was expected and what came).

* In the student's kernel, :meth:`Check.run_visible` asks the object itself, directly, for the
  visible cases: feedback while working.
* In the grader, :mod:`course_lib.grading.trusted` sends the same requests, visible cases and the
  instructor's hidden ones, to the sandboxed notebook, decodes the answers as data and calls the
  same ``expected`` and ``compare`` in its own, trusted process.

Either way the value goes through :mod:`course_lib.grading.wire`, so the comparison sees the same
types in both places.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
import threading
from dataclasses import dataclass, field

from course_lib.grading import wire
from course_lib.grading.checks import CheckFailed


@dataclass(frozen=True)
class Case:
    """One question to the student's object.

    ``args``/``kwargs`` go to the student; ``context`` only to ``expected`` (e.g. the stride of the
    convolution whose count must not depend on it); ``label`` is how messages write the call.
    """

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    context: dict = field(default_factory=dict)
    label: str = ""
    seed: int | None = None
    calls: tuple = ()  # for modules: (method, args) pairs


def call_text(name: str, args, kwargs) -> str:
    return f"{name}(" + ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())]) + ")"


def perform(request: dict, target):
    """Compute a request with ``target`` (the student's object): the one definition of what a request
    means, used by the sandbox's oracle and by :meth:`Check.run_visible` alike."""
    args, kwargs = request.get("args", []), request.get("kwargs", {})
    if request["op"] == "call":
        return target(*args, **kwargs)
    if request["op"] == "module":
        import torch

        if request.get("seed") is not None:
            torch.manual_seed(int(request["seed"]))
        module = target(*args, **kwargs)
        results = [getattr(module, method)(*call_args) for method, call_args in request.get("calls", [])]
        return {"parameters": {name: tuple(p.shape) for name, p in module.named_parameters()},
                "results": results}
    return chapter_op(request["op"])(request, target)


def perform_each(request: dict, target) -> list:
    """``target(*args)`` for each argument list of ``request["calls"]``, every outcome kept apart as
    data: ``["value", v]`` or ``["raised", error type name, message]``. For checks of many small
    inputs (strings to recognise, numbers to label), one request per case instead of one per input,
    and a raised error is an answer to compare (``encode`` must raise ValueError) rather than the
    end of the case. A chapter offers it by listing it in its ``OPS``."""
    outcomes = []
    for args in request["calls"]:
        try:
            value = target(*args)
        except Exception as error:
            outcomes.append(["raised", type(error).__name__[:100], str(error)[:300]])
            continue
        if type(value).__module__ == "numpy" and hasattr(value, "item"):  # np.bool_, np.int64: a plain scalar
            value = value.item()
        outcomes.append(["value", value])
    return outcomes


def chapter_op(op: str):
    """The function behind ``op`` = "chapter.name", a request a chapter's checks define (e.g.
    stepping a cell): ``OPS[name]`` of ``course_lib/checks/<chapter>.py``, called as
    ``function(request, target)``. Each chapter registers its own ops, so adding one touches only
    that chapter's module."""
    chapter, _, name = str(op).partition(".")
    if not (chapter.isidentifier() and name):
        raise ValueError(f"unknown request {op!r}")
    try:
        return importlib.import_module(f"course_lib.checks.{chapter}").OPS[name]
    except (ModuleNotFoundError, AttributeError, KeyError):
        raise ValueError(f"unknown request {op!r}") from None


class Check:
    """A graded exercise's check; subclasses set ``target`` and override ``expected`` and ``compare``."""

    name = ""         # "chapter.exercise", what a test cell names
    target = ""       # the name the notebook gives the student's function or class
    op = "call"       # "call" a function, or build a "module" and call its methods
    rule = None       # a from-scratch rule (see :mod:`course_lib.checks.rules`), judged on the source

    def visible_cases(self) -> list[Case]:
        raise NotImplementedError

    def expected(self, case: Case):
        raise NotImplementedError

    def compare(self, case: Case, got, expected) -> None:
        raise NotImplementedError

    def label(self, case: Case) -> str:
        return case.label or call_text(self.target, case.args, case.kwargs)

    def request(self, case: Case) -> dict:
        request = {"op": self.op, "target": self.target, "args": list(case.args), "kwargs": dict(case.kwargs)}
        if self.op == "module":
            request.update(seed=case.seed, calls=[[method, list(args)] for method, args in case.calls])
        return request

    def summary(self, count: int) -> str:
        return f"{self.target}: {count} cases agree"

    # -- in the student's kernel --------------------------------------------------------------------
    def run_visible(self, obj) -> str:
        """Check ``obj`` (the student's object) on the visible cases; raise CheckFailed on the first miss."""
        if self.rule is not None:
            problem = self.rule.judge_object(obj, self.target)
            if problem:
                raise CheckFailed(problem)
        cases = self.visible_cases()
        for case in cases:
            request = wire.loads(wire.dumps(wire.encode(self.request(case))))  # as the sandbox gets it
            try:
                value = perform(request, obj)
            except CheckFailed:
                raise
            except Exception as error:
                raise CheckFailed(f"{self.label(case)} raised {type(error).__name__}: {error}") from error
            got = wire.loads(wire.dumps(wire.encode(value)))  # as the grader sees it
            self.compare(case, got, self.expected(case))
        return self.summary(len(cases))


def outcomes_of(got, count: int, function: str) -> list:
    """The outcomes of an ``each`` request (see :func:`perform_each`) as the grader decoded them, or
    CheckFailed when the reply is not ``count`` of them."""
    def well_formed(outcome) -> bool:
        return isinstance(outcome, list) and (
            (len(outcome) == 2 and outcome[0] == "value")
            or (len(outcome) == 3 and outcome[0] == "raised" and all(isinstance(s, str) for s in outcome[1:])))

    if not (isinstance(got, list) and len(got) == count and all(map(well_formed, got))):
        raise CheckFailed(f"{function} could not be called on the check's inputs.")
    return got


class EachCheck(Check):
    """A function checked on many inputs in one request (:func:`perform_each`): ``case.args`` =
    (list of argument tuples,), ``case.context["expected"]`` the answers, written out or computed
    when the case was made. Subclasses set ``op`` to their chapter's "<chapter>.each"."""

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return self._cases

    def request(self, case):
        return {"op": self.op, "target": self.target, "calls": [list(args) for args in case.args[0]]}

    def expected(self, case):
        return case.context["expected"]

    def label(self, case):
        return case.label or f"{self.target} on {len(case.args[0])} inputs"


# torch's default generator is one per process: two grader threads seeding and drawing at once would
# interleave their draws, and a check's request and expected value would see different numbers.
_SEEDING = threading.Lock()


def seeded(seed: int, make):
    """``make()`` with torch's generator seeded, alone, and the caller's random state untouched."""
    import torch

    with _SEEDING, torch.random.fork_rng():
        torch.manual_seed(seed)
        return make()


def source_of(obj) -> str | None:
    """The code of a notebook-defined function or class (methods joined), or None."""
    try:
        if inspect.isclass(obj):  # Python 3.11 cannot read a notebook class, but can read its methods
            methods = "\n".join(textwrap.dedent(inspect.getsource(m)) for m in vars(obj).values()
                                 if inspect.isfunction(m))
            return f"class {obj.__name__}:\n" + textwrap.indent(methods or "pass\n", "    ")
        return textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):
        return None


# CPython 3.11 keeps ast's recursion depth per interpreter, not per thread: two threads parsing at
# once, one of them a 200,000-term expression, break the other with a SystemError. One at a time.
_PARSING = threading.Lock()


def parse(source: str) -> ast.Module | None:
    """The AST of untrusted source, or None when it cannot be parsed (too deep, too big, not Python)."""
    with _PARSING:
        try:
            return ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError, SystemError):
            return None
