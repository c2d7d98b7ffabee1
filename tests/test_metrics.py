"""course_lib.metrics: accuracy, masked cross-entropy, perplexity and their accumulators."""

import math

import pytest
import torch

from course_lib.metrics import (
    Accuracy, Perplexity, TokenNLL, accuracy, masked_cross_entropy, perplexity,
)

# One sequence of 3 positions over a vocabulary of 3; the last position is padding (target 0).
LOGITS = torch.tensor([[[2.0, 1.0, 0.0], [0.0, 0.0, 3.0], [5.0, -1.0, 2.0]]])  # (B=1, T=3, V=3)
TARGETS = torch.tensor([[1, 2, 0]])                                               # (B=1, T=3)


def _nll(scores, target):
    """-log softmax(scores)[target], by hand."""
    return -(scores[target] - math.log(sum(math.exp(s) for s in scores)))


def test_masked_cross_entropy_equals_a_hand_computation():
    expected = (_nll([2.0, 1.0, 0.0], 1) + _nll([0.0, 0.0, 3.0], 2)) / 2  # 2 real tokens
    assert masked_cross_entropy(LOGITS, TARGETS).item() == pytest.approx(expected, rel=1e-6)


def test_masked_cross_entropy_ignores_the_logits_at_padding():
    changed = LOGITS.clone()
    changed[0, 2] = torch.tensor([-30.0, 40.0, 7.0])
    assert torch.equal(masked_cross_entropy(changed, TARGETS), masked_cross_entropy(LOGITS, TARGETS))


def test_masked_cross_entropy_without_masking_counts_every_position():
    expected = (_nll([2.0, 1.0, 0.0], 1) + _nll([0.0, 0.0, 3.0], 2) + _nll([5.0, -1.0, 2.0], 0)) / 3
    assert masked_cross_entropy(LOGITS, TARGETS, ignore_index=None).item() == pytest.approx(expected)


def test_mismatched_shapes_say_what_was_expected():
    with pytest.raises(ValueError, match=r"logits \(1, 3, 3\) do not fit targets \(1, 2\)"):
        masked_cross_entropy(LOGITS, TARGETS[:, :2])


def test_perplexity_is_exp_of_the_cross_entropy():
    expected = math.exp((_nll([2.0, 1.0, 0.0], 1) + _nll([0.0, 0.0, 3.0], 2)) / 2)
    assert perplexity(LOGITS, TARGETS) == pytest.approx(expected, rel=1e-6)
    assert perplexity(LOGITS, TARGETS) == pytest.approx(math.exp(masked_cross_entropy(LOGITS, TARGETS).item()))


def test_uniform_logits_have_perplexity_equal_to_the_vocabulary_size():
    logits = torch.zeros(2, 5, 7)
    targets = torch.randint(1, 7, (2, 5))
    assert perplexity(logits, targets) == pytest.approx(7.0)


def test_perplexity_accumulates_total_nll_over_total_tokens():
    torch.manual_seed(0)
    # Batch a: 2 real tokens of 4; batch b: 5 real tokens of 6 -- different counts on purpose.
    logits_a, targets_a = torch.randn(1, 4, 6), torch.tensor([[3, 1, 0, 0]])
    logits_b, targets_b = torch.randn(2, 3, 6), torch.tensor([[2, 5, 4], [1, 1, 0]])
    nll_a = masked_cross_entropy(logits_a, targets_a).item() * 2
    nll_b = masked_cross_entropy(logits_b, targets_b).item() * 5

    metric = Perplexity()
    metric.update(logits_a, targets_a)
    metric.update(logits_b, targets_b)
    assert metric.count == 7
    assert metric.compute() == pytest.approx(math.exp((nll_a + nll_b) / 7), rel=1e-6)
    mean_of_batch_perplexities = (perplexity(logits_a, targets_a) + perplexity(logits_b, targets_b)) / 2
    assert metric.compute() != pytest.approx(mean_of_batch_perplexities, rel=1e-3)

    nll = TokenNLL()
    nll.update(logits_a, targets_a)
    nll.update(logits_b, targets_b)
    assert nll.compute() == pytest.approx((nll_a + nll_b) / 7, rel=1e-6)
    metric.reset()
    assert (metric.total, metric.count) == (0.0, 0)


def test_accuracy_for_classes_and_for_padded_sequences():
    logits = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert accuracy(logits, torch.tensor([1, 0, 0, 0])) == 0.75
    # Sequence accuracy skips padding: position 2 predicts 0 == target 0 but is padding.
    assert accuracy(LOGITS, TARGETS, ignore_index=0) == 0.5


def test_accuracy_accumulator_weights_batches_by_their_size():
    metric = Accuracy()
    metric.update(torch.tensor([[0.0, 1.0]]), torch.tensor([1]))               # 1 of 1
    metric.update(torch.tensor([[1.0, 0.0]] * 3), torch.tensor([1, 1, 0]))     # 1 of 3
    assert metric.compute() == 0.5  # 2 of 4, not the mean of 1.0 and 0.33
