"""Checks of the sentiment chapter (padding, masks, a max-pool over time, the classifier), the student half.

Expected values come from the library students already have: ``course_lib.data.collate_padded``
(which ``collate`` re-implements), a per-row max over ``h[b, mask[b]]``, and the parameter counts
of ``course_lib.params``. The classifier has no reference output (its weights are the student's own
random initialisation): its check verifies the properties that matter, its size, the shape of its
logits and that neither extra padding nor the other reviews of a batch change them. Hidden cases
are in ``grader/sentiment.py``.

Requests: ``pool`` runs ``masked_max_pool`` with gradients and returns the pool and dL/dh for
L = sum of the pool; ``classifier`` builds the student's ``SentimentClassifier`` under a seed and
returns its parameter shapes and its logits on a batch, the same batch padded wider, and each
review alone.
"""

from __future__ import annotations

import torch

from course_lib import params
from course_lib.checks.base import Case, Check
from course_lib.checks.rules import ForbiddenRule
from course_lib.data import PAD_ID, collate_padded
from course_lib.grading.checks import CheckFailed, check_close, check_equal

NOT_THE_LIBRARY = ForbiddenRule(("course_lib.data.collate_padded", "course_lib.data.imdb.collate_padded", "collate_padded"),
                                "Write the padding yourself (torch.full and slicing, or pad_sequence).")
EXTRA_PADDING = 4  # padded steps added at the end of every row of the classifier's batch
PARTS = ("ids", "lengths", "mask", "labels")


def tensor_or_fail(name, value, reference, where=""):
    """``value`` must be a tensor of ``reference``'s shape and dtype (``where``: the call, for messages)."""
    where = f" ({where})" if where else ""
    if not isinstance(value, torch.Tensor):
        raise CheckFailed(f"{name}{where} should be a tensor of shape {tuple(reference.shape)}; "
                          f"got a {type(value).__name__}.")
    if tuple(value.shape) != tuple(reference.shape):
        raise CheckFailed(f"{name}{where} has shape {tuple(value.shape)}; expected {tuple(reference.shape)}.")
    check_equal(f"{name}.dtype{where}", str(value.dtype), str(reference.dtype))


# -- collate ---------------------------------------------------------------------------------------------
def random_batch(seed, size, longest=30, vocabulary=500):
    """``size`` (ids, label) pairs of random lengths 1..longest-1 (ids >= 4: no special token)."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, longest, (size,), generator=generator)
    return [(torch.randint(4, vocabulary, (int(n),), generator=generator), torch.randint(0, 2, (), generator=generator))
            for n in lengths]


def front_padded(batch):
    """ids with the padding before each review: the typical slip the messages name."""
    longest = max(len(ids) for ids, _ in batch)
    return torch.stack([torch.cat([torch.full((longest - len(ids),), PAD_ID, dtype=torch.long), ids.long()])
                        for ids, _ in batch])


class CollateCheck(Check):
    """collate against course_lib.data.collate_padded: ``case.args`` = (batch,), a list of (ids, label)."""

    name, target, rule = "sentiment.collate", "collate", NOT_THE_LIBRARY

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return self._cases

    def label(self, case):
        return case.label or f"collate on {len(case.args[0])} reviews of lengths {[len(ids) for ids, _ in case.args[0]]}"

    def expected(self, case):
        return collate_padded(case.args[0])

    def compare(self, case, got, expected):
        if not isinstance(got, (tuple, list)) or len(got) != 4:
            raise CheckFailed("collate must return a tuple (ids, lengths, mask, labels).")
        for name, value, reference in zip(PARTS, got, expected):
            tensor_or_fail(name, value, reference, self.label(case))
            if torch.equal(value, reference):
                continue
            advice = ""
            if name == "mask" and torch.equal(value, ~reference):
                advice = " Your mask is True at padding: it must be True at the real tokens (t < T_b)."
            elif name == "ids" and torch.equal(value, front_padded(case.args[0])):
                advice = " The padding comes before the review: write each review at the start of its row."
            raise CheckFailed(f"{name} is wrong ({self.label(case)}).{advice}\n  expected:\n{reference}\n  got:\n{value}")

    def summary(self, count):
        return f"collate pads like course_lib.data.collate_padded ({count} batches)"


HAND_BATCH = [(torch.tensor([5, 6, 7]), torch.tensor(1)), (torch.tensor([8]), torch.tensor(0)),
              (torch.tensor([9, 10]), torch.tensor(1))]


# -- masked_max_pool -------------------------------------------------------------------------------------
def perform_pool(request: dict, function):
    """The pool of ``h`` and dL/dh for L = sum of the pool (None when no gradient reaches h)."""
    h, mask = request["args"]
    h = h.detach().clone().requires_grad_(True)
    pooled = function(h, mask)
    grad = None
    if isinstance(pooled, torch.Tensor) and pooled.requires_grad:
        grad = torch.autograd.grad(pooled.sum(), h, allow_unused=True)[0]
    return {"pooled": pooled, "grad": grad}


class PoolCheck(Check):
    """masked_max_pool against a max over each row's real steps; its gradient must stay off the padding.

    ``case.args`` = (h (B, T, H), mask (B, T)).
    """

    name, target, op = "sentiment.masked_max_pool", "masked_max_pool", "sentiment.pool"

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return self._cases

    def label(self, case):
        return case.label or f"masked_max_pool(h of shape {tuple(case.args[0].shape)}, mask)"

    def expected(self, case):
        h, mask = case.args
        return {"pooled": torch.stack([h[b, mask[b]].max(dim=0).values for b in range(h.shape[0])]),
                "unmasked": h.amax(dim=1), "zero_filled": (h * mask[:, :, None]).amax(dim=1)}

    def compare(self, case, got, expected):
        h, mask = case.args
        pooled, grad = (got.get("pooled"), got.get("grad")) if isinstance(got, dict) else (None, None)
        reference = expected["pooled"]
        tensor_or_fail(self.label(case), pooled, reference)
        if not torch.equal(pooled, reference):
            if torch.equal(pooled, expected["unmasked"]):
                raise CheckFailed(f"{self.label(case)} picked a padded step: the mask must keep the pool off the padding.")
            if torch.equal(pooled, expected["zero_filled"]):
                raise CheckFailed(f"{self.label(case)}: padded steps set to 0 beat real values below 0. Fill them with "
                                  "-inf (masked_fill), not 0.")
            check_close(self.label(case), pooled, reference, rtol=0.0, atol=0.0)
        if not isinstance(grad, torch.Tensor) or tuple(grad.shape) != tuple(h.shape):
            raise CheckFailed(f"{self.label(case)}: no gradient reaches h through the pool (was it detached?).")
        if grad[~mask].abs().sum() > 0:
            raise CheckFailed("the gradient reaches a padded step: the pool must never pick padding.")
        check_close("the gradient's total (one 1 per picked unit)", grad.sum(), float(reference.numel()))

    def summary(self, count):
        return f"masked_max_pool never picks a padded step ({count} cases, values and gradient)"


HAND_H = torch.tensor([[[-3.0, 1.0], [-1.0, 2.0], [50.0, 50.0]],
                       [[-5.0, -6.0], [40.0, 40.0], [30.0, 30.0]]])  # large values at the padded steps
HAND_MASK = torch.tensor([[True, True, False], [True, False, False]])


def pool_cases(seed, sizes):
    """For each (B, T, H): all-negative real values with 0 at the padding, and plain normal values."""
    generator, cases = torch.Generator().manual_seed(seed), []
    for B, T, H in sizes:
        lengths = torch.randint(1, T + 1, (B,), generator=generator)
        mask = torch.arange(T)[None, :] < lengths[:, None]
        negative = -torch.rand(B, T, H, generator=generator, dtype=torch.float64) - 1.0
        negative[~mask] = 0.0  # padding at 0 beats every real value
        cases += [Case((negative, mask)), Case((torch.randn(B, T, H, generator=generator), mask))]
    return cases


# -- SentimentClassifier ---------------------------------------------------------------------------------
def perform_classifier(request: dict, model_class):
    """Build the classifier under the seed; its parameter shapes and logits on the batch, the batch
    padded wider, and each review alone."""
    from course_lib.config import seed_everything

    seed_everything(int(request["seed"]))
    model = model_class(*request["args"]).eval()
    with torch.no_grad():
        return {"parameters": {name: tuple(p.shape) for name, p in model.named_parameters()},
                "logits": model(*request["batch"]), "wider": model(*request["wider"]),
                "alone": [model(*batch) for batch in request["alone"]]}


def body_params(E, H, kind):
    return {"mlp": E * H + H, "elman": params.elman_params(E, H, num_biases=2),
            "lstm": params.lstm_params(E, H, num_biases=2)}[kind]


def classifier_problem(V, seed, count=5, longest=12):
    """The batch (ids, lengths, mask), the same batch with more padding, and each review alone."""
    generator = torch.Generator().manual_seed(seed)
    reviews = [torch.randint(4, V, (int(n),), generator=generator) for n in torch.randint(1, longest, (count,), generator=generator)]
    ids, lengths, mask = collate_padded([(r, torch.tensor(0)) for r in reviews])[:3]
    wider = (torch.cat([ids, torch.full((count, EXTRA_PADDING), PAD_ID)], 1), lengths,
             torch.cat([mask, torch.zeros(count, EXTRA_PADDING, dtype=torch.bool)], 1))
    alone = [collate_padded([(r, torch.tensor(0))])[:3] for r in reviews]
    return (ids, lengths, mask), wider, alone


class ClassifierCheck(Check):
    """SentimentClassifier's size, logits' shape, and independence of padding and batch.

    ``case.args`` = (V, E, H, kind), ``case.seed`` seeds its initialisation and its batch.
    """

    name, target, op = "sentiment.sentiment_classifier", "SentimentClassifier", "sentiment.classifier"

    def __init__(self, cases):
        self._cases = cases

    def visible_cases(self):
        return self._cases

    def label(self, case):
        return case.label or f"SentimentClassifier{case.args}"

    def request(self, case):
        batch, wider, alone = classifier_problem(case.args[0], case.seed)
        return {"op": self.op, "target": self.target, "args": list(case.args), "seed": case.seed,
                "batch": list(batch), "wider": list(wider), "alone": [list(b) for b in alone]}

    def expected(self, case):
        V, E, H, kind = case.args
        return {"count": V * E + body_params(E, H, kind) + H * 2 + 2, "batch": len(classifier_problem(V, case.seed)[2]),
                "elman": V * E + body_params(E, H, "elman") + H * 2 + 2}

    def compare(self, case, got, expected):
        name, kind = self.label(case), case.args[3]
        if not (isinstance(got, dict) and isinstance(got.get("parameters"), dict) and isinstance(got.get("alone"), list)):
            raise CheckFailed(f"{name} could not be built and called.")
        count = 0
        for shape in got["parameters"].values():
            if not (isinstance(shape, tuple) and all(isinstance(n, int) and not isinstance(n, bool) for n in shape)):
                raise CheckFailed(f"{name}: a parameter has no shape.")
            count += int(torch.Size(shape).numel())
        if count != expected["count"]:
            advice = (" That is the count with an Elman body: `kind='lstm'` asks for nn.LSTM."
                      if kind == "lstm" and count == expected["elman"] else "")
            raise CheckFailed(f"parameters of {name}: expected {expected['count']:,}, got {count:,}.{advice}")
        logits = got.get("logits")
        batch = expected["batch"]
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (batch, 2):
            found = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise CheckFailed(f"{name}: logits should have shape {(batch, 2)}; got {found}.")
        check_close(f"{kind}: logits with {EXTRA_PADDING} more padded steps", got.get("wider"), logits, rtol=1e-5, atol=1e-6)
        if len(got["alone"]) != batch:
            raise CheckFailed(f"{name} could not be called on each review alone.")
        for b, alone in enumerate(got["alone"]):
            if not isinstance(alone, torch.Tensor) or tuple(alone.shape) != (1, 2):
                raise CheckFailed(f"{name}: logits of one review should have shape (1, 2).")
            check_close(f"{kind}: logits of review {b} alone vs in the batch", alone[0], logits[b], rtol=1e-5, atol=1e-6)

    def summary(self, count):
        return f"SentimentClassifier: size, logits, and independence of padding and batch ({count} cases)"


CHECKS = {check.name: check for check in [
    CollateCheck([Case((HAND_BATCH,), label="collate on the example batch"), Case((random_batch(0, 5),))]),
    PoolCheck([Case((HAND_H, HAND_MASK), label="masked_max_pool on the example")]),
    ClassifierCheck([Case((50, 8, 6, kind), seed=0) for kind in ("mlp", "elman", "lstm")]),
]}

# requests this chapter defines (see course_lib.checks.base.chapter_op)
OPS = {"pool": perform_pool, "classifier": perform_classifier}
