"""IMDB movie reviews (Maas et al. 2011) for sentiment classification: text -> padded id batches.

The pipeline, one function per step:

1. :func:`load_imdb` -- the raw reviews and labels of a split (pos = 1, neg = 0), 25,000 each,
   neg first then pos, each in sorted file-name order (the same order on every machine);
2. :func:`tokenize` -- lower case, ``<br />`` removed, punctuation split off as separate tokens;
3. :func:`load_imdb_tokens` -- every review tokenised once and cached on disk as token-id arrays
   (tokenising 50,000 reviews takes seconds to tens of seconds; the cache loads in about one);
4. :func:`imdb_vocabulary` -- built from the training reviews only (the test set stays unseen),
   with ``min_freq`` and ``max_size`` and the course's specials (``.pad`` = 0 ... ``.unk`` = 3);
5. :func:`encode_reviews` -- ids, truncated to the first ``max_len`` tokens;
6. :class:`ReviewDataset` (with a seeded train/valid :meth:`~ReviewDataset.split`) and
   :func:`collate_padded`, which pads a batch and returns its lengths and mask.

:func:`load_imdb_datasets` runs steps 3 to 6 in one call::

    data = load_imdb_datasets(max_size=20_000, max_len=200)
    loader = DataLoader(data.train, batch_size=64, shuffle=True, collate_fn=collate_padded)
    for ids, lengths, mask, labels in loader: ...   # (B, T), (B,), (B, T), (B,)
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
import zipfile
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from course_lib.data.download import atomic_write, ensure
from course_lib.data.vocab import PAD_ID, Vocabulary

SPLITS = ("train", "test")
LABELS = {"neg": 0, "pos": 1}

# Bump TOKENIZER_VERSION when tokenize() changes in a way its two patterns do not show: the cache
# key hashes the version and the patterns, so a stale cache is never read.
TOKENIZER_VERSION = 1
_LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
# A word (letters, digits, inner apostrophes: "don't" stays whole) or one punctuation mark.
_TOKEN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Split a review into lower-case tokens: ``"Great!<br />It's fun."`` ->
    ``["great", "!", "it's", "fun", "."]``."""
    return _TOKEN.findall(_LINE_BREAK.sub(" ", text.lower()))


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"IMDB has the splits {SPLITS}, not {split!r}")


def _review_files(folder: Path, split: str) -> list[tuple[str, int]]:
    """(path below ``folder``, label) of each review of ``split``: neg then pos, names sorted.

    Plain strings, not Path objects: building 50,000 Paths alone takes a second or two.
    """
    _check_split(split)
    return [(f"{split}/{label_name}/{name}", label)
            for label_name, label in LABELS.items()
            for name in sorted(os.listdir(os.path.join(folder, split, label_name)))]


def _read_review(folder: Path, relative: str) -> str:
    with open(os.path.join(folder, relative), encoding="utf-8") as review:
        return review.read()


def load_imdb(split: str, data_dir: str | Path | None = None) -> tuple[list[str], torch.Tensor]:
    """The raw reviews of ``split`` ('train' or 'test') and their labels.

    Returns (texts, labels): 25,000 strings and labels: (25_000,) int64, 0 = neg, 1 = pos.
    """
    folder = ensure("imdb", data_dir)
    files = _review_files(folder, split)
    texts = [_read_review(folder, relative) for relative, _ in files]
    return texts, torch.tensor([label for _, label in files], dtype=torch.long)


@dataclass
class TokenizedReviews:
    """The reviews of one split as ids into the corpus's own list of token types.

    types: every distinct token of train and test (shared by both splits; NOT a model vocabulary)
    ids: (total_tokens,) int32, the reviews one after another
    offsets: (N + 1,) int64; review ``i`` is ``ids[offsets[i]:offsets[i + 1]]``
    labels: (N,) int64, 0 = neg, 1 = pos
    """

    types: list[str] = field(repr=False)  # ~150,000 strings
    ids: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def tokens(self, index: int) -> list[str]:
        """The tokens of review ``index``."""
        return [self.types[i] for i in self.ids[self.offsets[index]:self.offsets[index + 1]]]

    def counts(self) -> dict[str, int]:
        """How often each token occurs in these reviews (for :meth:`Vocabulary.build`)."""
        counts = np.bincount(self.ids, minlength=len(self.types))
        return {self.types[i]: int(counts[i]) for i in np.flatnonzero(counts)}


def _tokenize_files(folder: Path, files: list[tuple[str, int]], types: dict[str, int],
                    progress: bool, desc: str) -> dict[str, np.ndarray]:
    """Tokenise reviews, adding new token types to ``types`` (type -> id) as they appear."""
    ids, offsets = array("i"), [0]
    for relative, _ in tqdm(files, desc=desc, unit=" reviews", disable=not progress):
        text = _read_review(folder, relative)
        ids.extend([types.setdefault(token, len(types)) for token in tokenize(text)])
        offsets.append(len(ids))
    return {"ids": np.frombuffer(ids, dtype=np.int32),
            "offsets": np.array(offsets, dtype=np.int64),
            "labels": np.array([label for _, label in files], dtype=np.int64)}


def _read_cache(cache_file: Path, split: str) -> TokenizedReviews | None:
    """One split from a cache file; None (with a warning) if the file cannot be read."""
    try:
        with np.load(cache_file) as stored:
            types = bytes(stored["types"]).decode("utf-8").split("\n")
            return TokenizedReviews(types, stored[f"{split}_ids"], stored[f"{split}_offsets"],
                                    stored[f"{split}_labels"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        warnings.warn(f"ignoring the unreadable IMDB token cache {cache_file} ({error}); "
                      "tokenising again", stacklevel=3)
        return None


def load_imdb_tokens(split: str, data_dir: str | Path | None = None, *,
                     cache_dir: str | Path | None = None,
                     progress: bool = True) -> TokenizedReviews:
    """The tokenised reviews of ``split``, from the cache, or tokenised now and cached.

    The first call tokenises all 50,000 reviews (both splits share one list of types) and writes
    ``imdb/cache/tokens-<key>.npz`` in the data directory (or in ``cache_dir``); ``<key>`` hashes
    the tokenizer and the review file names, so changing either makes a fresh cache. If the cache
    cannot be written (a read-only data directory) it warns and goes on without one.
    """
    _check_split(split)
    folder = ensure("imdb", data_dir)
    files = {name: _review_files(folder, name) for name in SPLITS}
    key = hashlib.sha256("\n".join(
        [str(TOKENIZER_VERSION), _LINE_BREAK.pattern, _TOKEN.pattern]
        + [relative for name in SPLITS for relative, _ in files[name]]
    ).encode()).hexdigest()[:16]
    cache = Path(cache_dir) if cache_dir is not None else folder.parent / "cache"
    cache_file = cache / f"tokens-{key}.npz"
    if cache_file.is_file():
        cached = _read_cache(cache_file, split)
        if cached is not None:
            return cached
    type_ids: dict[str, int] = {}
    tokenized = {name: _tokenize_files(folder, files[name], type_ids, progress,
                                       f"tokenizing IMDB {name}")
                 for name in SPLITS}
    types = list(type_ids)  # dicts keep insertion order: position = id
    arrays = {f"{name}_{part}": array_ for name in SPLITS for part, array_ in tokenized[name].items()}
    # Tokens never hold whitespace, so one newline-joined byte string stores the type list.
    arrays["types"] = np.frombuffer("\n".join(types).encode("utf-8"), dtype=np.uint8)
    try:
        with atomic_write(cache_file) as sink:
            np.savez(sink, **arrays)
    except OSError as error:
        warnings.warn(f"could not cache the tokenised IMDB reviews at {cache_file} ({error}); "
                      "the next load will tokenise them again", stacklevel=2)
    return TokenizedReviews(types, **tokenized[split])


def imdb_vocabulary(train: TokenizedReviews, *, min_freq: int = 1,
                    max_size: int | None = None) -> Vocabulary:
    """The vocabulary of the training reviews: specials 0..3, then tokens by frequency.

    Build it from the 25,000 training reviews only; the test reviews must not shape the model.
    """
    return Vocabulary.build(train.counts(), min_freq=min_freq, max_size=max_size)


def encode_reviews(reviews: TokenizedReviews, vocab: Vocabulary,
                   max_len: int | None = None) -> list[torch.Tensor]:
    """Each review as a (T_i,) int64 tensor of vocabulary ids, T_i <= ``max_len``.

    Truncation keeps the first ``max_len`` tokens; tokens outside the vocabulary become ``.unk``.
    """
    # Map every corpus type to its vocabulary id once, then translate all reviews in one step.
    type_to_vocab = np.array(vocab.encode(reviews.types), dtype=np.int64)
    ids = type_to_vocab[reviews.ids]
    starts, ends = reviews.offsets[:-1], reviews.offsets[1:]
    if max_len is not None:
        ends = np.minimum(ends, starts + max_len)
    return [torch.from_numpy(ids[start:end].copy()) for start, end in zip(starts, ends)]


class ReviewDataset(Dataset):
    """Encoded reviews and their labels. Item ``i``: (ids: (T_i,) int64, label: () int64)."""

    def __init__(self, sequences: list[torch.Tensor], labels: torch.Tensor):
        if len(sequences) != len(labels):
            raise ValueError(f"{len(sequences)} reviews but {len(labels)} labels")
        self.sequences = sequences
        self.labels = torch.as_tensor(labels, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.sequences[index], self.labels[index]

    def lengths(self) -> torch.Tensor:
        """(N,) int64: the number of tokens of every review (for :class:`BucketBatchSampler`)."""
        return torch.tensor([len(sequence) for sequence in self.sequences], dtype=torch.long)

    def split(self, valid_size: int, seed: int = 0) -> tuple[ReviewDataset, ReviewDataset]:
        """A random (train, valid) partition with ``valid_size`` reviews in valid; same seed,
        same partition."""
        if not 0 <= valid_size <= len(self):
            raise ValueError(f"valid_size must be between 0 and {len(self)}, got {valid_size}")
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        return self._subset(order[valid_size:]), self._subset(order[:valid_size])

    def _subset(self, indices: torch.Tensor) -> ReviewDataset:
        return ReviewDataset([self.sequences[i] for i in indices.tolist()], self.labels[indices])


def collate_padded(batch: list[tuple[torch.Tensor, torch.Tensor]]
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad a list of (ids (T_i,), label) pairs into one batch (a DataLoader's ``collate_fn``).

    Returns ids: (B, T) int64 padded with ``.pad`` = 0 after each review, T = max T_i;
    lengths: (B,) int64; mask: (B, T) bool, True on real tokens; labels: (B,) int64.
    """
    sequences = [ids for ids, _ in batch]
    lengths = torch.tensor([len(ids) for ids in sequences], dtype=torch.long)
    ids = torch.full((len(batch), int(lengths.max())), PAD_ID, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, :len(sequence)] = sequence
    mask = torch.arange(ids.shape[1]) < lengths[:, None]
    labels = torch.tensor([int(label) for _, label in batch], dtype=torch.long)
    return ids, lengths, mask, labels


@dataclass
class ImdbData:
    """What a sentiment notebook needs: the vocabulary and the three datasets."""

    vocab: Vocabulary
    train: ReviewDataset
    valid: ReviewDataset
    test: ReviewDataset


def load_imdb_datasets(*, min_freq: int = 1, max_size: int | None = 20_000,
                       max_len: int | None = 200, valid_size: int = 5_000, seed: int = 0,
                       data_dir: str | Path | None = None, progress: bool = True) -> ImdbData:
    """Tokenised (cached), encoded and truncated IMDB, the 25,000 training reviews split into
    train and ``valid_size`` validation reviews with ``seed``; the vocabulary comes from all
    25,000 training reviews (never the test set)."""
    train_tokens = load_imdb_tokens("train", data_dir, progress=progress)
    test_tokens = load_imdb_tokens("test", data_dir, progress=progress)
    vocab = imdb_vocabulary(train_tokens, min_freq=min_freq, max_size=max_size)
    train = ReviewDataset(encode_reviews(train_tokens, vocab, max_len),
                          torch.from_numpy(train_tokens.labels))
    test = ReviewDataset(encode_reviews(test_tokens, vocab, max_len),
                         torch.from_numpy(test_tokens.labels))
    train, valid = train.split(valid_size, seed)
    return ImdbData(vocab, train, valid, test)
