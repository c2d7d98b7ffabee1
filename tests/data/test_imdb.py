"""IMDB: tokenizer, reading order and labels, the token cache, vocabulary, encoding, batches."""

import dataclasses

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from course_lib.data import download, imdb
from course_lib.data.imdb import (
    ReviewDataset,
    TokenizedReviews,
    collate_padded,
    encode_reviews,
    imdb_vocabulary,
    load_imdb,
    load_imdb_datasets,
    load_imdb_tokens,
    tokenize,
)
from course_lib.data.vocab import SPECIALS, UNK_ID

# --- the tokenizer ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, tokens", [
    ("I loved it!<br /><br />Great.", ["i", "loved", "it", "!", "great", "."]),
    ("<BR/>Hello<br>world", ["hello", "world"]),
    ("Don't... 10/10", ["don't", ".", ".", ".", "10", "/", "10"]),
    ('(Really?) "Yes"', ["(", "really", "?", ")", '"', "yes", '"']),
    ("Amélie, SO good", ["amélie", ",", "so", "good"]),
    ("", []),
])
def test_tokenize(text, tokens):
    assert tokenize(text) == tokens


# --- a tiny IMDB: order, cache, vocabulary, encoding -------------------------------------------------

SMALL = {
    "train/neg/0_1.txt": "Awful.<br />Just awful!",
    "train/neg/1_3.txt": "Bad acting, bad plot.",
    "train/pos/0_10.txt": "Great film! I loved it.",
    "train/pos/1_8.txt": "A fine, fine film.",
    "test/neg/0_2.txt": "Boring film.",
    "test/neg/1_4.txt": "Not great.",
    "test/pos/0_9.txt": "Loved it!",
    "test/pos/1_7.txt": "Fine.",
}


@pytest.fixture
def small_imdb(tmp_path, monkeypatch):
    """A data directory holding a two-reviews-a-folder aclImdb, registered as complete."""
    for name, text in SMALL.items():
        path = tmp_path / "imdb" / "aclImdb" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    real = download.REGISTRY["imdb"]
    small_counts = dict.fromkeys(real.archive.file_counts, 2)
    monkeypatch.setitem(download.REGISTRY, "imdb", dataclasses.replace(
        real, archive=dataclasses.replace(real.archive, file_counts=small_counts)))
    return tmp_path


def test_reviews_come_neg_then_pos_in_sorted_file_order(small_imdb):
    texts, labels = load_imdb("train", small_imdb)
    assert texts == [SMALL["train/neg/0_1.txt"], SMALL["train/neg/1_3.txt"],
                     SMALL["train/pos/0_10.txt"], SMALL["train/pos/1_8.txt"]]
    assert labels.tolist() == [0, 0, 1, 1] and labels.dtype == torch.long
    with pytest.raises(ValueError, match="splits"):
        load_imdb("unsup", small_imdb)


def test_tokens_are_cached_on_disk(small_imdb, monkeypatch):
    first = load_imdb_tokens("train", small_imdb, progress=False)
    cache_files = list((small_imdb / "imdb" / "cache").glob("tokens-*.npz"))
    assert len(cache_files) == 1
    assert first.tokens(2) == tokenize(SMALL["train/pos/0_10.txt"])
    assert first.offsets.tolist() == [0, 5, 11, 18, 24] and first.labels.tolist() == [0, 0, 1, 1]

    def no_tokenizing(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(imdb, "_tokenize_files", no_tokenizing)
    again = load_imdb_tokens("train", small_imdb, progress=False)
    assert again.types == first.types
    assert again.ids.tolist() == first.ids.tolist()
    test = load_imdb_tokens("test", small_imdb, progress=False)  # both splits share the cache
    assert test.types == first.types and test.tokens(0) == ["boring", "film", "."]

    # another set of files is another corpus: the cache key changes, so it is tokenised afresh
    (small_imdb / "imdb/aclImdb/test/pos/1_7.txt").rename(small_imdb / "imdb/aclImdb/test/pos/2_7.txt")
    with pytest.raises(AssertionError, match="cache should have been used"):
        load_imdb_tokens("test", small_imdb, progress=False)


def test_an_unwritable_cache_only_warns(small_imdb):
    blocker = small_imdb / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    with pytest.warns(UserWarning, match="could not cache the tokenised IMDB reviews"):
        reviews = load_imdb_tokens("train", small_imdb, cache_dir=blocker / "cache", progress=False)
    assert len(reviews) == 4


def test_a_damaged_cache_is_rebuilt(small_imdb):
    first = load_imdb_tokens("train", small_imdb, progress=False)
    (cache_file,) = (small_imdb / "imdb" / "cache").glob("tokens-*.npz")
    cache_file.write_bytes(cache_file.read_bytes()[:100])
    with pytest.warns(UserWarning, match="unreadable IMDB token cache"):
        again = load_imdb_tokens("train", small_imdb, progress=False)
    assert again.ids.tolist() == first.ids.tolist()
    assert load_imdb_tokens("train", small_imdb, progress=False).types == first.types  # mended


def test_the_vocabulary_comes_from_train_only(small_imdb):
    train = load_imdb_tokens("train", small_imdb, progress=False)
    vocab = imdb_vocabulary(train, min_freq=2)
    assert vocab.itos == [*SPECIALS, ".", "!", ",", "awful", "bad", "film", "fine"]
    assert "boring" not in imdb_vocabulary(train)  # a word seen only in test


def test_encode_reviews_maps_unknowns_and_truncates(small_imdb):
    train = load_imdb_tokens("train", small_imdb, progress=False)
    test = load_imdb_tokens("test", small_imdb, progress=False)
    vocab = imdb_vocabulary(train, min_freq=2)
    encoded = encode_reviews(test, vocab)
    assert vocab.decode(encoded[0]) == [".unk", "film", "."]
    assert encoded[0].dtype == torch.long
    truncated = encode_reviews(test, vocab, max_len=2)
    assert [len(ids) for ids in truncated] == [2, 2, 2, 2]
    assert truncated[0].tolist() == [UNK_ID, vocab.stoi["film"]]  # the first tokens are kept


def test_load_imdb_datasets_on_the_small_corpus(small_imdb):
    data = load_imdb_datasets(max_size=None, max_len=3, valid_size=1, data_dir=small_imdb,
                              progress=False)
    assert (len(data.train), len(data.valid), len(data.test)) == (3, 1, 4)
    assert all(len(ids) <= 3 for ids, _ in data.train)
    assert sorted(int(label) for _, label in [*data.train, *data.valid]) == [0, 0, 1, 1]


def test_token_counts_of_a_hand_made_corpus():
    reviews = TokenizedReviews(types=["a", "b", "c"], ids=np.array([0, 1, 0, 0], dtype=np.int32),
                               offsets=np.array([0, 2, 4]), labels=np.array([1, 0]))
    assert len(reviews) == 2 and reviews.tokens(1) == ["a", "a"]
    assert reviews.counts() == {"a": 3, "b": 1}


def test_missing_imdb_offline_says_what_to_download_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(FileNotFoundError) as error:
        load_imdb("train", tmp_path)
    assert str(error.value).splitlines()[2:5] == [
        "  http://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
        f"    -> {tmp_path / 'imdb' / 'aclImdb_v1.tar.gz'}",
        f"  (or extract the archive yourself so that {tmp_path / 'imdb' / 'aclImdb'} holds "
        "train/pos, train/neg, test/pos, test/neg)"]


# --- datasets and batches --------------------------------------------------------------------------

def test_collate_padded_pads_with_zero_and_returns_lengths_and_mask():
    batch = [(torch.tensor([5, 6, 7]), torch.tensor(1)), (torch.tensor([8]), 0),
             (torch.tensor([9, 4]), torch.tensor(1))]
    ids, lengths, mask, labels = collate_padded(batch)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [9, 4, 0]] and ids.dtype == torch.long
    assert lengths.tolist() == [3, 1, 2] and lengths.dtype == torch.long
    assert mask.tolist() == [[True, True, True], [True, False, False], [True, True, False]]
    assert mask.dtype == torch.bool
    assert labels.tolist() == [1, 0, 1] and labels.dtype == torch.long


def test_the_train_valid_split_is_seeded_and_disjoint():
    dataset = ReviewDataset([torch.tensor([i]) for i in range(10)], torch.arange(10) % 2)
    train, valid = dataset.split(valid_size=3, seed=7)
    assert (len(train), len(valid)) == (7, 3)
    assert sorted(members(train) + members(valid)) == list(range(10))
    assert all(int(label) == int(ids) % 2 for ids, label in valid)  # labels travel with reviews
    assert members(dataset.split(3, seed=7)[1]) == members(valid)
    assert members(dataset.split(3, seed=8)[1]) != members(valid)
    with pytest.raises(ValueError, match="valid_size"):
        dataset.split(11)


def members(part: ReviewDataset) -> list[int]:
    return [int(ids) for ids, _ in part]


# --- the real data set (tokenised once per session; later runs read the cache) -----------------------

@pytest.fixture(scope="session")
def imdb_tokens(real_data_dir):
    return {split: load_imdb_tokens(split, progress=False) for split in ("train", "test")}


@pytest.fixture(scope="session")
def imdb_data(imdb_tokens):
    return load_imdb_datasets(max_size=20_000, max_len=200, valid_size=5_000, seed=0, progress=False)


def test_imdb_has_25000_reviews_a_split_half_positive(imdb_tokens, real_data_dir):
    for reviews in imdb_tokens.values():
        assert len(reviews) == 25_000
        assert reviews.labels.tolist() == [0] * 12_500 + [1] * 12_500
    assert list((real_data_dir / "imdb" / "cache").glob("tokens-*.npz"))


def test_cached_tokens_match_the_raw_reviews(imdb_tokens):
    texts, labels = load_imdb("test")
    assert len(texts) == 25_000 and int(labels.sum()) == 12_500
    for index in (0, 12_499, 12_500, 24_999):
        assert imdb_tokens["test"].tokens(index) == tokenize(texts[index])


def test_imdb_datasets_and_batches(imdb_data):
    assert len(imdb_data.vocab) == 20_000 and imdb_data.vocab.itos[:4] == list(SPECIALS)
    assert (len(imdb_data.train), len(imdb_data.valid), len(imdb_data.test)) == (20_000, 5_000, 25_000)
    assert max(len(ids) for ids in imdb_data.test.sequences) == 200
    loader = DataLoader(imdb_data.valid, batch_size=32, collate_fn=collate_padded)
    ids, lengths, mask, labels = next(iter(loader))
    assert ids.shape == mask.shape == (32, int(lengths.max())) and labels.shape == lengths.shape == (32,)
    assert torch.equal(mask.sum(dim=1), lengths)
    assert bool((ids[~mask] == 0).all()) and bool((ids[mask] != 0).all())


def test_review_dataset_lengths():
    dataset = ReviewDataset([torch.tensor([4, 5, 6]), torch.tensor([7]), torch.tensor([8, 9])], torch.tensor([1, 0, 1]))
    assert dataset.lengths().tolist() == [3, 1, 2] and dataset.lengths().dtype == torch.long
