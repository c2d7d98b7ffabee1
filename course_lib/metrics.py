"""What we measure while training: accuracy, masked cross-entropy and perplexity.

Two kinds of helpers live here:

* functions for ONE batch -- :func:`accuracy`, :func:`masked_cross_entropy`, :func:`perplexity`;
* accumulators for a WHOLE epoch -- :class:`Accuracy`, :class:`TokenNLL`, :class:`Perplexity`.

Why accumulators? Batches differ in size: the last batch of an epoch is short, and in a padded
language-model batch the number of real tokens varies. Averaging per-batch perplexities would
weigh a batch of 3 tokens like a batch of 3,000. An accumulator sums the raw quantities instead
(correct predictions and examples; total NLL and tokens) and divides once at the end, so the
perplexity of an epoch is ``exp(total NLL / total tokens)``.

Every accumulator has the same small interface, which :func:`course_lib.train.fit` relies on::

    metric.name                      # "accuracy", "nll", "perplexity" -- the History column
    metric.reset()                   # forget everything (fit calls it at every epoch start)
    metric.update(logits, targets)   # add one batch
    metric.compute() -> float        # the value over all batches since reset()

Shapes: classification ``logits: (B, C)``, ``targets: (B,)``; sequences ``logits: (B, T, V)``,
``targets: (B, T)``.

``ignore_index`` must be said every time. :func:`masked_cross_entropy`, :func:`perplexity`,
:class:`TokenNLL` and :class:`Perplexity` have no default for it, because no default is right
for both kinds of text the course reads:

* padded batches (IMDB reviews, the grammars' strings) carry the ``.pad`` id at padding: pass
  ``ignore_index=PAD_ID`` (0) so that padding is neither scored nor counted;
* continuous streams (PTB, the character corpora) have no padding, and their id 0 is a real
  token -- a newline, the most frequent word: pass ``ignore_index=None`` so that it counts.

A default of ``PAD_ID`` would silently drop every id-0 token of a stream (a better-looking loss
and perplexity that are simply wrong), so a call without ``ignore_index`` raises a ``TypeError``
that says what to pass. :func:`accuracy` and :class:`Accuracy` keep ``None``: class labels start
at 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from course_lib.data.vocab import PAD_ID  # .pad = 0, the same id in every padded data set


class _Required:
    """The default of a keyword that must be given: its absence is reported by :func:`_need_ignore_index`."""

    def __repr__(self) -> str:
        return "<required>"


REQUIRED = _Required()


def _need_ignore_index(ignore_index, who: str) -> int | None:
    if ignore_index is REQUIRED:
        raise TypeError(
            f"{who} needs ignore_index: PAD_ID for padded batches, None for unpadded streams "
            "(PTB, characters), whose id 0 is a real token"
        )
    return ignore_index


def _flatten(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, V), (B, T) -> (B*T, V), (B*T,); (B, C), (B,) pass through unchanged."""
    if logits.shape[:-1] != targets.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} do not fit targets {tuple(targets.shape)}: expected "
            "logits (B, C) with targets (B,), or logits (B, T, V) with targets (B, T)."
        )
    return logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)


def _correct_and_count(logits, targets, ignore_index):
    logits, targets = _flatten(logits, targets)
    predictions = logits.argmax(dim=-1)
    keep = torch.ones_like(targets, dtype=torch.bool) if ignore_index is None else targets != ignore_index
    return int((predictions == targets)[keep].sum()), int(keep.sum())


def _nll_sum_and_tokens(logits, targets, ignore_index):
    logits, targets = _flatten(logits, targets)
    nll_sum = F.cross_entropy(logits.float(), targets, ignore_index=_torch_ignore(ignore_index),
                              reduction="sum")
    tokens = targets.numel() if ignore_index is None else int((targets != ignore_index).sum())
    return float(nll_sum), tokens


def _torch_ignore(ignore_index: int | None) -> int:
    # F.cross_entropy has no "ignore nothing"; its default -100 is never a token id.
    return -100 if ignore_index is None else ignore_index


def accuracy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int | None = None) -> float:
    """Fraction of positions where ``argmax(logits)`` equals the target.

    logits: (B, C) or (B, T, V); targets: (B,) or (B, T). Positions whose target is
    ``ignore_index`` (e.g. padding) are left out when it is given.
    """
    correct, count = _correct_and_count(logits, targets, ignore_index)
    return correct / count


def masked_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, *, ignore_index: int | None = REQUIRED
) -> torch.Tensor:
    """Mean negative log-likelihood over the real (non-padding) tokens, as a scalar tensor.

    logits: (B, T, V) unnormalised scores; targets: (B, T) token ids, ``ignore_index`` at padding.
    ignore_index (keyword, required): ``PAD_ID`` for padded batches -- padded positions contribute
    nothing, whatever their logits, and are not counted in the mean (so a batch of short sequences
    is not diluted by its padding; ``nan`` if every token is padding). ``None`` masks nothing: use
    it for the unpadded streams of PTB and the character corpora, whose id 0 is a real token.
    """
    ignore_index = _need_ignore_index(ignore_index, "masked_cross_entropy")
    logits, targets = _flatten(logits, targets)
    return F.cross_entropy(logits, targets, ignore_index=_torch_ignore(ignore_index))


def perplexity(
    logits: torch.Tensor, targets: torch.Tensor, *, ignore_index: int | None = REQUIRED
) -> float:
    """``exp(mean NLL per real token)`` for one batch; logits (B, T, V), targets (B, T).

    ignore_index (keyword, required): ``PAD_ID`` for padded batches, ``None`` for unpadded streams.
    """
    ignore_index = _need_ignore_index(ignore_index, "perplexity")
    nll_sum, tokens = _nll_sum_and_tokens(logits, targets, ignore_index)
    return math.exp(nll_sum / tokens)


class RunningTotal:
    """The accumulator pattern: add up a (sum, count) pair batch by batch, divide once at the end.

    Subclasses say what one batch contributes (:meth:`batch_totals`) and may transform the
    final ratio (:class:`Perplexity` takes its exponential).
    """

    name = "total"

    def __init__(self, ignore_index: int | None):
        self.ignore_index = ignore_index
        self.reset()

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0

    def batch_totals(self, logits: torch.Tensor, targets: torch.Tensor) -> tuple[float, int]:
        raise NotImplementedError

    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        total, count = self.batch_totals(logits, targets)
        self.total += total
        self.count += count

    def compute(self) -> float:
        return self.total / self.count


class Accuracy(RunningTotal):
    """Total correct / total counted over many batches (not a mean of batch accuracies).

    Class labels start at 0, so nothing is ignored by default; for padded sequences pass
    ``ignore_index=PAD_ID``.
    """

    name = "accuracy"

    def __init__(self, ignore_index: int | None = None):
        super().__init__(ignore_index)

    def batch_totals(self, logits, targets):
        return _correct_and_count(logits, targets, self.ignore_index)


class TokenNLL(RunningTotal):
    """Mean negative log-likelihood per real token over many batches, in nats.

    ``total NLL / total tokens``; for a character model this is "loss in nats per character".
    ignore_index (keyword, required): ``PAD_ID`` for padded batches (padding is not counted),
    ``None`` for an unpadded text stream (every position counts), e.g. ``TokenNLL(ignore_index=None)``.
    """

    name = "nll"

    def __init__(self, *, ignore_index: int | None = REQUIRED):
        super().__init__(_need_ignore_index(ignore_index, type(self).__name__))

    def batch_totals(self, logits, targets):
        return _nll_sum_and_tokens(logits, targets, self.ignore_index)


class Perplexity(TokenNLL):
    """``exp(total NLL / total tokens)`` over many batches: the language-model metric.

    ignore_index (keyword, required), as for :class:`TokenNLL`: ``Perplexity(ignore_index=None)``
    for PTB's stream, ``Perplexity(ignore_index=PAD_ID)`` for padded batches.
    """

    name = "perplexity"

    def compute(self) -> float:
        return math.exp(super().compute())
