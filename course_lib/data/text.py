"""Character corpora: Tiny Shakespeare and The Time Machine, as id streams for character models.

A character corpus is its raw text (nothing lower-cased or removed: the models learn the layout
too), a vocabulary of its distinct characters in sorted order (no specials: every character is
known and a stream never pads), and a split by position: the first 90% of the characters for
training, the rest for validation. Tiny Shakespeare has 65 characters and splits into 1,003,854 /
111,540; The Time Machine has 70 characters and 161,081 / 17,898 (it is used the same way, and
the same split keeps the two chapters comparable).

Batching for truncated BPTT is shared with PTB: :func:`course_lib.data.streams.batchify_stream`
and :class:`~course_lib.data.streams.StreamWindows`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from course_lib.data.download import ensure
from course_lib.data.vocab import Vocabulary


def char_vocabulary(text: str) -> Vocabulary:
    """The distinct characters of ``text``, sorted; id ``i`` is the ``i``-th smallest character."""
    return Vocabulary(sorted(set(text)), specials=(), unk=None)


@dataclass
class CharCorpus:
    """A text, its character vocabulary and its train/valid split.

    train: (N_train,) and valid: (N_valid,) int64 character ids; ``N_train = int(fraction * N)``.
    """

    text: str = field(repr=False)  # a megabyte: keep reprs readable
    vocab: Vocabulary
    train: torch.Tensor
    valid: torch.Tensor

    def encode(self, text: str) -> torch.Tensor:
        """(len(text),) int64 ids; a character outside the vocabulary raises ``KeyError``."""
        return torch.tensor(self.vocab.encode(text), dtype=torch.long)

    def decode(self, ids) -> str:
        """The text of ``ids`` ((T,) tensor or list of ints)."""
        return "".join(self.vocab.decode(ids))


def char_corpus(text: str, train_fraction: float = 0.9) -> CharCorpus:
    """Encode ``text`` and split it: the first ``int(train_fraction * len(text))`` characters train."""
    vocab = char_vocabulary(text)
    ids = torch.tensor(vocab.encode(text), dtype=torch.long)
    cut = int(train_fraction * len(ids))
    return CharCorpus(text, vocab, ids[:cut], ids[cut:])


def load_tinyshakespeare(data_dir: str | Path | None = None,
                         train_fraction: float = 0.9) -> CharCorpus:
    """Tiny Shakespeare (1,115,394 characters, 65 distinct) from the data directory (downloaded if missing)."""
    text = (ensure("tinyshakespeare", data_dir) / "input.txt").read_text(encoding="utf-8")
    return char_corpus(text, train_fraction)


def load_timemachine(data_dir: str | Path | None = None,
                     train_fraction: float = 0.9) -> CharCorpus:
    """The Time Machine by H. G. Wells (178,979 characters, 70 distinct) from the data directory (downloaded
    if missing)."""
    text = (ensure("timemachine", data_dir) / "timemachine.txt").read_text(encoding="utf-8")
    return char_corpus(text, train_fraction)
