"""A vocabulary: the two-way map between tokens (words or characters) and integer ids.

Every data set of the course shares this one class:

* IMDB and the toy grammars use the course's four special tokens, always with the same ids::

      .pad = 0   .start = 1   .end = 2   .unk = 3

  so that padding is id 0 everywhere (``ignore_index=0``, masks ``ids != 0``);
* PTB has no specials: its vocabulary is exactly the 10,000 word types of its training file, one
  of which is ``<unk>`` (``specials=()``, ``unk="<unk>"``);
* the character corpora have neither specials nor an unknown token: every character is known.

Ids are assigned in a fixed order -- specials first, then the ordinary tokens -- and
:meth:`Vocabulary.build` orders tokens by descending frequency, ties broken alphabetically,
so the same corpus always gives the same ids, on every machine.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

PAD, START, END, UNK = ".pad", ".start", ".end", ".unk"
SPECIALS = (PAD, START, END, UNK)
PAD_ID, START_ID, END_ID, UNK_ID = 0, 1, 2, 3


class Vocabulary:
    """Tokens <-> ids. ``specials`` take ids ``0 .. len(specials)-1``; ``tokens`` follow in order.

    ``unk`` names the token that unknown tokens are encoded as; it must be one of the specials or
    of the tokens. With ``unk=None`` encoding an unknown token is an error (character corpora).
    """

    def __init__(self, tokens: Sequence[str], *, specials: Sequence[str] = SPECIALS,
                 unk: str | None = UNK):
        self.specials = tuple(specials)
        self.itos: list[str] = [*self.specials, *tokens]
        self.stoi: dict[str, int] = {token: index for index, token in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            repeated = [token for token, n in Counter(self.itos).items() if n > 1]
            raise ValueError(f"a vocabulary lists each token once; repeated: {repeated[:10]}")
        if unk is not None and unk not in self.stoi:
            raise ValueError(f"the unknown token {unk!r} is neither a special nor a token")
        self.unk = unk
        self.unk_id = None if unk is None else self.stoi[unk]

    @classmethod
    def build(cls, corpus: Iterable[str] | Mapping[str, int], *, min_freq: int = 1,
              max_size: int | None = None, specials: Sequence[str] = SPECIALS,
              unk: str | None = UNK) -> Vocabulary:
        """The vocabulary of a corpus: tokens seen at least ``min_freq`` times, most frequent first.

        ``corpus`` is either a stream of tokens or a ready count per token. ``max_size`` caps the
        whole vocabulary, specials included, so ``len(vocab) <= max_size`` (an embedding table of
        exactly that many rows). Ties in frequency are broken alphabetically, so ids never depend on
        the order the corpus was read in.
        """
        counts = corpus if isinstance(corpus, Mapping) else Counter(corpus)
        specials = tuple(specials)
        if max_size is not None and max_size < len(specials):
            raise ValueError(f"max_size={max_size} leaves no room for the {len(specials)} specials")
        kept = [token for token, count in counts.items()
                if count >= min_freq and token not in specials]
        kept.sort(key=lambda token: (-counts[token], token))
        if max_size is not None:
            kept = kept[: max_size - len(specials)]
        return cls(kept, specials=specials, unk=unk)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Vocabulary) and self.itos == other.itos
                and self.specials == other.specials and self.unk == other.unk)

    def __repr__(self) -> str:
        preview = ", ".join(repr(token) for token in self.itos[:8])
        return f"Vocabulary({len(self)} tokens: {preview}{', ...' if len(self) > 8 else ''})"

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Token ids; unknown tokens become ``unk_id`` (or raise ``KeyError`` without an unk)."""
        if self.unk_id is not None:
            get, unk_id = self.stoi.get, self.unk_id
            return [get(token, unk_id) for token in tokens]
        try:
            return [self.stoi[token] for token in tokens]
        except KeyError as error:
            raise KeyError(f"{error.args[0]!r} is not in the vocabulary, which has no "
                           "unknown token to stand in for it") from None

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The tokens of ``ids`` (a list, or a 1-D tensor / array of ints)."""
        if hasattr(ids, "tolist"):  # a tensor or array: Python ints index ~100x faster
            ids = ids.tolist()
        itos = self.itos
        return [itos[index] for index in ids]

    def to_json(self) -> dict:
        return {"specials": list(self.specials), "unk": self.unk,
                "tokens": self.itos[len(self.specials):]}

    @classmethod
    def from_json(cls, state: dict) -> Vocabulary:
        return cls(state["tokens"], specials=state["specials"], unk=state["unk"])

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON (UTF-8, readable, diff-able)."""
        Path(path).write_text(json.dumps(self.to_json(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        """Read a vocabulary written by :meth:`save`."""
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
