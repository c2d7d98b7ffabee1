"""course_lib.metrics: accuracy, masked cross-entropy, perplexity and their accumulators."""

import math

import pytest
import torch

from course_lib.data.vocab import PAD_ID
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
    assert masked_cross_entropy(LOGITS, TARGETS, ignore_index=PAD_ID).item() == pytest.approx(expected, rel=1e-6)


def test_masked_cross_entropy_ignores_the_logits_at_padding():
    changed = LOGITS.clone()
    changed[0, 2] = torch.tensor([-30.0, 40.0, 7.0])
    assert torch.equal(masked_cross_entropy(changed, TARGETS, ignore_index=PAD_ID),
                       masked_cross_entropy(LOGITS, TARGETS, ignore_index=PAD_ID))


def test_masked_cross_entropy_without_masking_counts_every_position():
    expected = (_nll([2.0, 1.0, 0.0], 1) + _nll([0.0, 0.0, 3.0], 2) + _nll([5.0, -1.0, 2.0], 0)) / 3
    assert masked_cross_entropy(LOGITS, TARGETS, ignore_index=None).item() == pytest.approx(expected)


def test_mismatched_shapes_say_what_was_expected():
    with pytest.raises(ValueError, match=r"logits \(1, 3, 3\) do not fit targets \(1, 2\)"):
        masked_cross_entropy(LOGITS, TARGETS[:, :2], ignore_index=PAD_ID)


def test_perplexity_is_exp_of_the_cross_entropy():
    expected = math.exp((_nll([2.0, 1.0, 0.0], 1) + _nll([0.0, 0.0, 3.0], 2)) / 2)
    assert perplexity(LOGITS, TARGETS, ignore_index=PAD_ID) == pytest.approx(expected, rel=1e-6)
    assert perplexity(LOGITS, TARGETS, ignore_index=PAD_ID) == pytest.approx(math.exp(masked_cross_entropy(LOGITS, TARGETS, ignore_index=PAD_ID).item()))


def test_uniform_logits_have_perplexity_equal_to_the_vocabulary_size():
    logits = torch.zeros(2, 5, 7)
    targets = torch.randint(1, 7, (2, 5))
    assert perplexity(logits, targets, ignore_index=None) == pytest.approx(7.0)


def test_perplexity_accumulates_total_nll_over_total_tokens():
    torch.manual_seed(0)
    # Batch a: 2 real tokens of 4; batch b: 5 real tokens of 6 -- different counts on purpose.
    logits_a, targets_a = torch.randn(1, 4, 6), torch.tensor([[3, 1, 0, 0]])
    logits_b, targets_b = torch.randn(2, 3, 6), torch.tensor([[2, 5, 4], [1, 1, 0]])
    nll_a = masked_cross_entropy(logits_a, targets_a, ignore_index=PAD_ID).item() * 2
    nll_b = masked_cross_entropy(logits_b, targets_b, ignore_index=PAD_ID).item() * 5

    metric = Perplexity(ignore_index=PAD_ID)
    metric.update(logits_a, targets_a)
    metric.update(logits_b, targets_b)
    assert metric.count == 7
    assert metric.compute() == pytest.approx(math.exp((nll_a + nll_b) / 7), rel=1e-6)
    mean_of_batch_perplexities = (perplexity(logits_a, targets_a, ignore_index=PAD_ID)
                                 + perplexity(logits_b, targets_b, ignore_index=PAD_ID)) / 2
    assert metric.compute() != pytest.approx(mean_of_batch_perplexities, rel=1e-3)

    nll = TokenNLL(ignore_index=PAD_ID)
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


# ----------------------------------------------------------------------------- ignore_index is required

NEEDS_IGNORE_INDEX = ("needs ignore_index: PAD_ID for padded batches, None for unpadded streams "
                      "(PTB, characters), whose id 0 is a real token")


@pytest.mark.parametrize("call, who", [
    (lambda: masked_cross_entropy(LOGITS, TARGETS), "masked_cross_entropy"),
    (lambda: perplexity(LOGITS, TARGETS), "perplexity"),
    (lambda: TokenNLL(), "TokenNLL"),
    (lambda: Perplexity(), "Perplexity"),
])
def test_a_call_without_ignore_index_fails_and_says_what_to_pass(call, who):
    with pytest.raises(TypeError) as raised:
        call()
    assert str(raised.value) == f"{who} {NEEDS_IGNORE_INDEX}"


def test_ignore_index_is_keyword_only():
    with pytest.raises(TypeError, match="positional"):
        masked_cross_entropy(LOGITS, TARGETS, PAD_ID)
    with pytest.raises(TypeError, match="positional"):
        perplexity(LOGITS, TARGETS, None)
    with pytest.raises(TypeError, match="positional"):
        TokenNLL(None)


def test_accuracy_still_ignores_nothing_by_default():
    assert Accuracy().ignore_index is None
    assert accuracy(LOGITS, TARGETS) == 2 / 3  # position 2 predicts 0 == target 0, and counts


# A stream [1, 0, 1] over V = 2 in which id 0 is a real token (a newline, PTB's most frequent word).
# Logits [0, 0]: p(1) = 1/2, NLL ln 2. Logits [0, ln 3]: p(0) = 1/4, NLL ln 4 = 2 ln 2.
STREAM_LOGITS = torch.tensor([[[0.0, 0.0], [0.0, math.log(3.0)], [0.0, 0.0]]])
STREAM_TARGETS = torch.tensor([[1, 0, 1]])


def test_none_counts_id_0_and_pad_id_drops_it():
    ln2 = math.log(2.0)
    # None: all 3 tokens, (ln 2 + 2 ln 2 + ln 2) / 3 = 4/3 ln 2 nats, perplexity 2^(4/3).
    assert masked_cross_entropy(STREAM_LOGITS, STREAM_TARGETS, ignore_index=None).item() == \
        pytest.approx(4 / 3 * ln2, rel=1e-6)
    assert perplexity(STREAM_LOGITS, STREAM_TARGETS, ignore_index=None) == pytest.approx(2 ** (4 / 3), rel=1e-6)
    # PAD_ID: the id-0 token is dropped as if it were padding, leaving 2 tokens of ln 2: perplexity 2.
    assert PAD_ID == 0
    assert masked_cross_entropy(STREAM_LOGITS, STREAM_TARGETS, ignore_index=PAD_ID).item() == \
        pytest.approx(ln2, rel=1e-6)
    assert perplexity(STREAM_LOGITS, STREAM_TARGETS, ignore_index=PAD_ID) == pytest.approx(2.0, rel=1e-6)


@pytest.mark.parametrize("ignore_index, tokens, nll_in_ln2", [(None, 3, 4.0), (PAD_ID, 2, 2.0)])
def test_the_accumulators_count_id_0_only_with_none(ignore_index, tokens, nll_in_ln2):
    nll, ppl = TokenNLL(ignore_index=ignore_index), Perplexity(ignore_index=ignore_index)
    for metric in (nll, ppl):
        metric.update(STREAM_LOGITS, STREAM_TARGETS)
        assert metric.count == tokens
        assert metric.total == pytest.approx(nll_in_ln2 * math.log(2.0), rel=1e-6)
    assert nll.compute() == pytest.approx(nll_in_ln2 / tokens * math.log(2.0), rel=1e-6)
    assert ppl.compute() == pytest.approx(2 ** (nll_in_ln2 / tokens), rel=1e-6)
