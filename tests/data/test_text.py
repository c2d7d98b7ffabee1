"""Character corpora: exact sizes, the sorted character vocabulary, encode/decode, BPTT chunks."""

import pytest
import torch

from course_lib.data.download import REGISTRY
from course_lib.data.streams import StreamWindows, batchify_stream
from course_lib.data.text import char_corpus, char_vocabulary, load_timemachine, load_tinyshakespeare


@pytest.fixture(scope="module")
def shakespeare(real_data_dir):
    return load_tinyshakespeare(real_data_dir)


def test_tiny_shakespeare_has_65_characters_and_the_usual_split(shakespeare):
    assert len(shakespeare.vocab) == 65
    assert (len(shakespeare.train), len(shakespeare.valid)) == (1_003_854, 111_540)
    assert shakespeare.text.startswith("First Citizen:\n")
    assert shakespeare.decode(torch.cat([shakespeare.train, shakespeare.valid])) == shakespeare.text


def test_the_character_vocabulary_is_sorted_without_specials(shakespeare):
    vocab = shakespeare.vocab
    assert vocab.itos == sorted(vocab.itos) and vocab.specials == () and vocab.unk is None
    assert vocab.itos[:2] == ["\n", " "] and vocab.itos[-1] == "z"


def test_encode_and_decode_round_trip(shakespeare):
    ids = shakespeare.encode("To be, or not to be")
    assert ids.dtype == torch.long and ids.shape == (19,)
    assert shakespeare.decode(ids) == "To be, or not to be"
    with pytest.raises(KeyError, match="'%' is not in the vocabulary"):
        shakespeare.encode("to be %")


def test_the_time_machine(real_data_dir):
    corpus = load_timemachine(real_data_dir)
    assert len(corpus.vocab) == 70
    assert (len(corpus.train), len(corpus.valid)) == (161_081, 17_898)
    assert corpus.text.startswith("The Time Machine, by H. G. Wells [1898]")


def test_char_corpus_on_a_hand_made_text():
    corpus = char_corpus("hello world", train_fraction=0.5)
    assert corpus.vocab.itos == [" ", "d", "e", "h", "l", "o", "r", "w"]
    assert corpus.decode(corpus.train) == "hello" and corpus.decode(corpus.valid) == " world"
    assert char_vocabulary("abca").itos == ["a", "b", "c"]


@pytest.mark.parametrize("loader, name", [(load_tinyshakespeare, "tinyshakespeare"),
                                          (load_timemachine, "timemachine")])
def test_missing_text_offline_says_what_to_download_and_where(tmp_path, monkeypatch, loader, name):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    remote = REGISTRY[name].files[0]
    with pytest.raises(FileNotFoundError) as error:
        loader(tmp_path)
    assert f"  {remote.url}\n    -> {tmp_path / remote.path}\n" in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_truncated_bptt_chunks(shakespeare):
    streams = batchify_stream(shakespeare.train, batch_size=64)
    assert streams.shape == (64, 15_685)  # 1,003,854 // 64
    windows = StreamWindows(streams, num_steps=100)
    assert len(windows) == 157  # 15,684 targets a row: 156 full windows and one of 84
    *_, (x, y) = windows
    assert x.shape == y.shape == (64, 84)
    assert shakespeare.decode(streams[0, :15]) == "First Citizen:\n"
