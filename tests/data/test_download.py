"""The downloader against a real local HTTP server, the registry's checks, and `course data`."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import shutil
import tarfile
import time

import pytest

from course_lib import cli
from course_lib.data import download
from course_lib.data.download import (
    REGISTRY,
    ChecksumError,
    DataNotFoundError,
    DataSet,
    DownloadError,
    RemoteFile,
    fetch,
    require,
    status,
)

BODY = b"It was the best of times, it was the worst of times.\n" * 100


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def toy_dataset(url: str, body: bytes = BODY, *, sha: str | None = None) -> DataSet:
    return DataSet("toy", "Toy text", (RemoteFile(url, sha or sha256(body), len(body), "toy/toy.txt"),))


def files_under(folder) -> list[str]:
    """Every file below ``folder`` (hidden temporary files included), as sorted relative paths."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# --- single files --------------------------------------------------------------------------------

def test_fetch_downloads_verifies_and_places_the_file(http_server, tmp_path):
    dataset = toy_dataset(http_server.serve("/toy.txt", BODY))
    folder = fetch(dataset, data_dir=tmp_path, progress=False)
    assert folder == tmp_path / "toy"
    assert (tmp_path / "toy" / "toy.txt").read_bytes() == BODY
    assert files_under(tmp_path) == ["toy/toy.txt"]  # no temporary file left over
    found = status(dataset, tmp_path)
    assert (found.present, found.size, found.verified) == (True, len(BODY), True)


def test_a_verified_file_is_not_downloaded_again(http_server, tmp_path):
    dataset = toy_dataset(http_server.serve("/toy.txt", BODY))
    fetch(dataset, data_dir=tmp_path, progress=False)
    http_server.httpd.routes.clear()  # any new request would now get a 404
    assert fetch(dataset, data_dir=tmp_path, progress=False) == tmp_path / "toy"


def test_a_file_with_the_wrong_hash_is_downloaded_again(http_server, tmp_path):
    dataset = toy_dataset(http_server.serve("/toy.txt", BODY))
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "toy.txt").write_bytes(BODY.upper())  # same size, other bytes
    assert status(dataset, tmp_path).verified is False
    fetch(dataset, data_dir=tmp_path, progress=False)
    assert (tmp_path / "toy" / "toy.txt").read_bytes() == BODY


def test_checksum_mismatch_names_both_hashes_and_leaves_nothing(http_server, tmp_path):
    expected = sha256(b"something else")
    dataset = toy_dataset(http_server.serve("/toy.txt", BODY), sha=expected)
    with pytest.raises(ChecksumError) as error:
        fetch(dataset, data_dir=tmp_path, progress=False)
    assert expected in str(error.value) and sha256(BODY) in str(error.value)
    assert files_under(tmp_path) == []


def test_404_names_the_url_and_where_to_put_the_file_by_hand(http_server, tmp_path):
    url = http_server.url("/missing.txt")
    with pytest.raises(DownloadError) as error:
        fetch(toy_dataset(url), data_dir=tmp_path, progress=False)
    message = str(error.value)
    assert url in message and "404" in message
    assert str(tmp_path / "toy" / "toy.txt") in message
    assert "course data fetch toy" in message
    assert files_under(tmp_path) == []


def test_a_transfer_cut_off_half_way_fails_and_leaves_nothing(http_server, tmp_path):
    dataset = toy_dataset(http_server.serve("/toy.txt", BODY, cut=True))
    with pytest.raises(DownloadError, match="cut off") as error:
        fetch(dataset, data_dir=tmp_path, progress=False)
    assert dataset.files[0].url in str(error.value)
    assert files_under(tmp_path) == []


def test_a_server_that_never_answers_times_out(silent_url, tmp_path):
    started = time.perf_counter()
    with pytest.raises(DownloadError, match="no answer within 1 s") as error:
        fetch(toy_dataset(silent_url), data_dir=tmp_path, timeout=1.0, progress=False)
    assert time.perf_counter() - started < 10
    assert silent_url in str(error.value)
    assert files_under(tmp_path) == []


# --- archives (the IMDB path) ----------------------------------------------------------------------

REVIEWS = ["train/pos/0_9.txt", "train/neg/1_2.txt", "test/pos/2_8.txt", "test/neg/3_1.txt"]
NOT_WANTED = ["train/unsup/4_0.txt", "train/labeledBow.feat", "train/urls_pos.txt", "imdbEr.txt"]


def make_tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def toy_imdb(url: str, tarball: bytes) -> DataSet:
    """The real IMDB entry (its `keep` list), pointed at a local tarball of one review a folder."""
    real = REGISTRY["imdb"]
    archive = dataclasses.replace(real.archive, file_counts={"train/pos": 1, "train/neg": 1,
                                                             "test/pos": 1, "test/neg": 1})
    return dataclasses.replace(real, files=(RemoteFile(url, sha256(tarball), len(tarball),
                                                       "imdb/aclImdb_v1.tar.gz"),), archive=archive)


def test_fetch_extracts_only_the_labelled_reviews(http_server, tmp_path):
    names = REVIEWS + NOT_WANTED + ["imdb.vocab", "README"]
    tarball = make_tarball({f"aclImdb/{name}": name.encode() for name in names})
    dataset = toy_imdb(http_server.serve("/aclImdb_v1.tar.gz", tarball), tarball)
    assert fetch(dataset, data_dir=tmp_path, progress=False) == tmp_path / "imdb" / "aclImdb"
    # only the reviews, the vocabulary and the README; the tarball itself is gone
    assert files_under(tmp_path / "imdb") == sorted(f"aclImdb/{name}" for name in
                                                    REVIEWS + ["imdb.vocab", "README"])
    assert (tmp_path / "imdb/aclImdb/test/neg/3_1.txt").read_bytes() == b"test/neg/3_1.txt"
    assert status(dataset, tmp_path).present


@pytest.mark.parametrize("evil", ["aclImdb/train/pos/../../../../evil.txt", "/tmp/evil.txt"])
def test_members_that_climb_out_are_refused(http_server, tmp_path, evil):
    tarball = make_tarball({**{f"aclImdb/{name}": b"ok" for name in REVIEWS}, evil: b"gotcha"})
    dataset = toy_imdb(http_server.serve("/aclImdb_v1.tar.gz", tarball), tarball)
    with pytest.raises(DownloadError, match="Refusing to extract"):
        fetch(dataset, data_dir=tmp_path / "data", progress=False)
    assert not (tmp_path / "evil.txt").exists()
    # the verified tarball stays for a retry; nothing half-extracted is left
    assert files_under(tmp_path / "data") == ["imdb/aclImdb_v1.tar.gz"]


def test_an_already_extracted_folder_is_accepted_without_downloading(tmp_path):
    dataset = toy_imdb("http://127.0.0.1:9/unreachable.tar.gz", b"")
    for name in REVIEWS:
        (tmp_path / "imdb" / "aclImdb" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "imdb" / "aclImdb" / name).write_text("a review")
    assert fetch(dataset, data_dir=tmp_path, progress=False) == tmp_path / "imdb" / "aclImdb"


# --- finding data ------------------------------------------------------------------------------------

def test_missing_data_names_the_fetch_command(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        require("tinyshakespeare", tmp_path)
    assert isinstance(error.value, DataNotFoundError)
    assert str(error.value) == (
        f"Tiny Shakespeare not found at {tmp_path / 'tinyshakespeare' / 'input.txt'}; run "
        "`course data fetch tinyshakespeare` or set COURSE_DATA_DIR to a folder that holds it.")


def test_a_truncated_file_is_not_taken_for_the_data(tmp_path):
    (tmp_path / "timemachine").mkdir()
    (tmp_path / "timemachine" / "timemachine.txt").write_text("The Time Machine, by H. G. We")
    with pytest.raises(DataNotFoundError, match="29 bytes instead of 178,979"):
        require("timemachine", tmp_path)


def test_an_incomplete_imdb_folder_is_missing(tmp_path):
    (tmp_path / "imdb" / "aclImdb" / "train" / "pos").mkdir(parents=True)
    (tmp_path / "imdb" / "aclImdb" / "train" / "pos" / "0_9.txt").write_text("great")
    found = status("imdb", tmp_path)
    assert not found.present and found.problem == "train/pos holds 1 of 12,500 files"
    with pytest.raises(DataNotFoundError, match="course data fetch imdb"):
        require("imdb", tmp_path)


def test_the_data_directory_comes_from_course_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert status("ptb").path == tmp_path / "ptb"


def test_unknown_names_are_explained():
    with pytest.raises(ValueError, match="tinyshakespeare, ptb, timemachine, imdb"):
        status("mnist")


# --- the command line --------------------------------------------------------------------------------

def test_course_data_list_shows_what_is_there(real_data_dir, tmp_path, monkeypatch, capsys):
    (tmp_path / "timemachine").mkdir()
    shutil.copy(real_data_dir / "timemachine" / "timemachine.txt", tmp_path / "timemachine")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert cli.main(["data", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"data directory: {tmp_path}"
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert rows["timemachine"] == ["timemachine", "present", "179.0", "KB", "verified"]
    for name in ("tinyshakespeare", "ptb", "imdb"):
        assert rows[name] == [name, "missing", "-", "-"]


def test_course_data_fetch_failures_exit_1_with_a_message(http_server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setitem(download.REGISTRY, "timemachine",
                        toy_dataset(http_server.url("/gone.txt")))
    assert cli.main(["data", "fetch", "timemachine", "--timeout", "5"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: timemachine: Could not download Toy text")
    assert "HTTP 404" in error and "Traceback" not in error

    assert cli.main(["data", "fetch", "mnist"]) == 1
    assert "no data set called 'mnist'" in capsys.readouterr().err


def test_course_data_fetch_reports_success(http_server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setitem(download.REGISTRY, "timemachine",
                        toy_dataset(http_server.serve("/toy.txt", BODY)))
    assert cli.main(["data", "fetch", "timemachine"]) == 0
    assert capsys.readouterr().out == f"timemachine: ready in {tmp_path / 'toy'}\n"
