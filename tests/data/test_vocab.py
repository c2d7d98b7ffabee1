"""The shared Vocabulary: specials, ordering, limits, encode/decode, save/load."""

import pytest

from course_lib.data.vocab import END_ID, PAD_ID, SPECIALS, START_ID, UNK_ID, Vocabulary

CORPUS = "the cat sat on the mat the cat ran".split()  # the 3, cat 2, then 1 each


def test_specials_take_ids_0_to_3():
    vocab = Vocabulary.build(CORPUS)
    assert SPECIALS == (".pad", ".start", ".end", ".unk")
    assert [vocab.stoi[token] for token in SPECIALS] == [PAD_ID, START_ID, END_ID, UNK_ID] == [0, 1, 2, 3]
    assert vocab.unk_id == 3


def test_order_is_by_frequency_then_alphabetical():
    vocab = Vocabulary.build(CORPUS)
    assert vocab.itos == [*SPECIALS, "the", "cat", "mat", "on", "ran", "sat"]
    assert Vocabulary.build(list(reversed(CORPUS))) == vocab  # reading order does not matter
    assert Vocabulary.build({"the": 3, "cat": 2, "mat": 1, "on": 1, "ran": 1, "sat": 1}) == vocab


def test_min_freq_and_max_size():
    assert Vocabulary.build(CORPUS, min_freq=2).itos == [*SPECIALS, "the", "cat"]
    limited = Vocabulary.build(CORPUS, max_size=7)  # max_size counts the specials
    assert len(limited) == 7 and limited.itos[4:] == ["the", "cat", "mat"]
    with pytest.raises(ValueError, match="no room"):
        Vocabulary.build(CORPUS, max_size=3)


def test_encode_decode_and_unknown_tokens():
    vocab = Vocabulary.build(CORPUS)
    ids = vocab.encode(["the", "dog", "sat"])
    assert ids == [4, UNK_ID, 9]
    assert vocab.decode(ids) == ["the", ".unk", "sat"]
    assert len(vocab) == 10 and "cat" in vocab and "dog" not in vocab


def test_a_special_in_the_corpus_is_not_listed_twice():
    assert Vocabulary.build(["a", ".pad", ".unk", "a"]).itos == [*SPECIALS, "a"]


def test_no_specials_with_an_unknown_token_among_the_words():
    vocab = Vocabulary.build(["<unk>", "a", "a", "b"], specials=(), unk="<unk>")
    assert vocab.itos == ["a", "<unk>", "b"] and vocab.unk_id == 1
    assert vocab.encode(["b", "zebra"]) == [2, 1]


def test_without_an_unknown_token_unknowns_are_an_error():
    vocab = Vocabulary(["a", "b"], specials=(), unk=None)
    assert vocab.encode("ab") == [0, 1]
    with pytest.raises(KeyError, match="'z' is not in the vocabulary"):
        vocab.encode("abz")
    with pytest.raises(ValueError, match="unknown token"):
        Vocabulary(["a"], specials=(), unk="<unk>")
    with pytest.raises(ValueError, match="repeated"):
        Vocabulary(["a", "a"])


def test_save_and_load_round_trip(tmp_path):
    for vocab in (Vocabulary.build(CORPUS, min_freq=2),
                  Vocabulary(["<unk>", "é", "ß"], specials=(), unk="<unk>")):
        vocab.save(tmp_path / "vocab.json")
        assert Vocabulary.load(tmp_path / "vocab.json") == vocab
