"""The sentiment chapter's checks without a sandbox: the solution passes, typical mistakes get their message."""

import pytest
import torch
from torch import nn

from course_lib.checks import find_check
from course_lib.checks.base import perform
from course_lib.data import PAD_ID
from course_lib.grading import wire
from course_lib.grading.checks import CheckFailed
from grader.sentiment import HIDDEN


def collate(batch):
    lengths = torch.tensor([len(sequence) for sequence, _ in batch], dtype=torch.long)
    ids = torch.full((len(batch), int(lengths.max())), PAD_ID, dtype=torch.long)
    for row, (sequence, _) in enumerate(batch):
        ids[row, : len(sequence)] = sequence
    mask = torch.arange(ids.shape[1])[None, :] < lengths[:, None]
    labels = torch.tensor([int(label) for _, label in batch], dtype=torch.long)
    return ids, lengths, mask, labels


def collate_mask_inverted(batch):
    ids, lengths, mask, labels = collate(batch)
    return ids, lengths, ~mask, labels


def collate_front_padding(batch):
    ids, lengths, mask, labels = collate(batch)
    longest = ids.shape[1]
    for row, (sequence, _) in enumerate(batch):
        ids[row] = torch.cat([torch.zeros(longest - len(sequence), dtype=torch.long), sequence])
    return ids, lengths, mask, labels


def collate_float_labels(batch):
    ids, lengths, mask, labels = collate(batch)
    return ids, lengths, mask, labels.float()


def masked_max_pool(h, mask):
    return h.masked_fill(~mask[:, :, None], float("-inf")).amax(dim=1)


def pool_unmasked(h, mask):
    return h.amax(dim=1)


def pool_zero_filled(h, mask):
    return (h * mask[:, :, None]).amax(dim=1)


def pool_detached(h, mask):
    return masked_max_pool(h.detach(), mask)


class SentimentClassifier(nn.Module):
    def __init__(self, vocab_size, embedding_size, hidden_size, kind="lstm"):
        super().__init__()
        self.kind = kind
        self.embedding = nn.Embedding(vocab_size, embedding_size, padding_idx=PAD_ID)
        body = {"mlp": nn.Linear, "elman": nn.RNN, "lstm": nn.LSTM}[kind]
        self.body = body(embedding_size, hidden_size) if kind == "mlp" else body(embedding_size, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 2)

    def features(self, ids, mask):
        x = self.embedding(ids)
        return torch.relu(self.body(x) if self.kind == "mlp" else self.body(x)[0])

    def forward(self, ids, lengths, mask):
        return self.head(masked_max_pool(self.features(ids, mask), mask))


class ElmanForLstm(SentimentClassifier):
    def __init__(self, vocab_size, embedding_size, hidden_size, kind="lstm"):
        super().__init__(vocab_size, embedding_size, hidden_size, "elman" if kind == "lstm" else kind)


class PoolsPadding(SentimentClassifier):
    def forward(self, ids, lengths, mask):
        return self.head(self.features(ids, mask).amax(dim=1))


def run_cases(name, obj, cases):
    """The cases through the wire as the grader sends them, the rule left aside (the functions here
    are not named as in the notebook)."""
    check = find_check(name)
    for case in cases:
        request = wire.loads(wire.dumps(wire.encode(check.request(case))))
        got = wire.loads(wire.dumps(wire.encode(perform(request, obj))))
        check.compare(case, got, check.expected(case))


@pytest.mark.parametrize("name, obj", [("sentiment.collate", collate), ("sentiment.masked_max_pool", masked_max_pool),
                                       ("sentiment.sentiment_classifier", SentimentClassifier)])
def test_the_solution_passes_the_visible_and_hidden_cases(name, obj):
    run_cases(name, obj, find_check(name).visible_cases() + HIDDEN[name])


@pytest.mark.parametrize("name, obj, message", [
    ("sentiment.collate", collate_mask_inverted, "Your mask is True at padding"),
    ("sentiment.collate", collate_front_padding, "The padding comes before the review"),
    ("sentiment.collate", collate_float_labels, "labels.dtype (collate on the example batch): expected 'torch.int64', "
                                                "got 'torch.float32'"),
    ("sentiment.masked_max_pool", pool_unmasked, "picked a padded step"),
    ("sentiment.masked_max_pool", pool_zero_filled, "Fill them with -inf"),
    ("sentiment.masked_max_pool", pool_detached, "no gradient reaches h"),
    ("sentiment.sentiment_classifier", ElmanForLstm, "expected 798, got 510. That is the count with an Elman body"),
    ("sentiment.sentiment_classifier", PoolsPadding, "mlp: logits of review 2 alone vs in the batch is wrong"),
])
def test_typical_mistakes_are_named(name, obj, message):
    with pytest.raises(CheckFailed) as failure:
        run_cases(name, obj, find_check(name).visible_cases())
    assert message in str(failure.value)


def test_the_library_collate_is_ruled_out_under_any_name():
    rule = find_check("sentiment.collate").rule
    assert "collate uses `collate_padded`" in rule.judge_sources(["def collate(batch):\n    return collate_padded(batch)\n"],
                                                                 "collate")
    aliased = "from course_lib.data import collate_padded as pad\n\ndef collate(batch):\n    return pad(batch)\n"
    assert "collate uses `pad`, which line 1 of your answers binds to `import course_lib.data.collate_padded`" \
        in rule.judge_sources([aliased], "collate")
    assert rule.judge_sources(["pad = 0\n\ndef collate(batch):\n    return pad\n"], "collate") == ""
    fetched = "import course_lib.data as D\n\ndef collate(batch):\n    return getattr(D, {})(batch)\n"
    assert "collate uses `getattr(..., 'collate_padded')`" in rule.judge_sources([fetched.format('"collate_padded"')], "collate")
    assert "collate uses `getattr with a computed name`" in rule.judge_sources([fetched.format('"collate_" + "padded"')],
                                                                                "collate")
    assert rule.judge_sources(["def collate(batch):\n    return getattr(batch, 'shape')\n"], "collate") == ""
