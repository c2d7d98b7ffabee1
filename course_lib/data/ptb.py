"""The Penn Treebank word-level corpus (Mikolov's version), as used by Zaremba et al. (2014).

The files are already tokenised: lower case, numbers as ``N``, rare words as ``<unk>``, one
sentence per line. We split each line on whitespace and append ``<eos>``, which gives

    train 929,589 tokens, valid 73,760, test 82,430, and exactly 10,000 word types in train

(``<unk>`` and ``<eos>`` included). The vocabulary is those 10,000 types and nothing else -- no
padding or start tokens, because a stream language model never pads -- ordered by descending
frequency (ids are the same on every machine). Words outside it would map to ``<unk>``; in PTB
the validation and test words are all known.

Batching: :func:`course_lib.data.streams.batchify_stream` and
:class:`~course_lib.data.streams.StreamWindows`, e.g. ``StreamWindows(batchify_stream(ptb.train,
20), num_steps=20)`` for the paper's small model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from course_lib.data.download import ensure
from course_lib.data.vocab import Vocabulary

EOS = "<eos>"
UNK = "<unk>"
SPLITS = ("train", "valid", "test")


def read_ptb_words(path: str | Path) -> list[str]:
    """The words of a PTB file, with ``<eos>`` after every line."""
    words = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            words.extend(line.split())
            words.append(EOS)
    return words


def ptb_vocabulary(train_words: list[str]) -> Vocabulary:
    """Exactly the word types of the training words, most frequent first; unknown -> ``<unk>``."""
    return Vocabulary.build(train_words, specials=(), unk=UNK)


@dataclass
class PtbCorpus:
    """The three splits as flat id streams, and their vocabulary.

    train: (929_589,), valid: (73_760,), test: (82_430,) -- int64 ids into ``vocab``.
    """

    vocab: Vocabulary
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor


def load_ptb(data_dir: str | Path | None = None) -> PtbCorpus:
    """Read PTB from the data directory, downloading it first if missing (:func:`course_lib.data.download.ensure`)."""
    folder = ensure("ptb", data_dir)
    words = {split: read_ptb_words(folder / f"ptb.{split}.txt") for split in SPLITS}
    vocab = ptb_vocabulary(words["train"])
    ids = {split: torch.tensor(vocab.encode(words[split]), dtype=torch.long) for split in SPLITS}
    return PtbCorpus(vocab, ids["train"], ids["valid"], ids["test"])
