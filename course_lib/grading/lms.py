"""The LMS in and out: who submitted each file of a Canvas, Moodle or Blackboard download, and when;
late penalties; and a grades file each LMS imports.

**In.** Each LMS names the files of its bulk download ("Download submissions") its own way:

* **Canvas**: ``<name>_[LATE_]<user id>_<submission id>_<original file name>``, e.g.
  ``doejane_LATE_48213_1130022_params.ipynb``; ``<name>`` is the sortable name, lower case, without
  spaces or punctuation. The name carries no time: Canvas marks late work ``LATE`` itself, and a
  time can come from ``--submission-times`` (a CSV of ``student,submitted``).
* **Moodle**: ``<Full Name>_<participant id>_assignsubmission_file_<original file name>`` (older
  versions), or a folder ``<Full Name>_<participant id>_assignsubmission_file_/`` holding the file
  (Moodle 3.x and later). No time either: Moodle's grading worksheet (``--worksheet``, the CSV
  that "Download grading worksheet" gives) has it, in its "Last modified (submission)" column.
* **Blackboard** (Grade Center, "Assignment File Download"):
  ``<assignment>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>_<original file name>``, with one receipt
  ``<assignment>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>.txt`` per attempt whose first line reads
  ``Name: First Last (username)``. The time is the server's local time (``--lms-timezone``). A
  username may hold ``_``: the receipt spells it out, and the file names are read with it. A receipt
  without a notebook (a text-only attempt, a file the student forgot) gives the student a row,
  "missing", rather than no row; one later than the graded notebook is noted in that row.

File names are hostile input: they are matched by strict patterns (no match: the file is graded
under its own name with a note), every field is length-capped, ids are cleaned like every
student id (:func:`course_lib.grading.submissions.clean_id`), and a student's earlier attempts are
reported, not graded (the latest one counts).

**Late work.** :class:`LatePolicy`: a deadline, per-student extensions (a CSV of
``student,deadline``), a penalty in percent per started day late (after an optional grace
period) and a cap; a submission past the cap is worth 0 only if the cap is 100. The penalty is
computed from the submission time and shown in the row's status, e.g. ``late by 1 d 2 h:
-20%``.

**Out.** :func:`write_lms_grades` writes, besides grades.csv, the file the LMS imports:
Canvas's gradebook CSV (``Student, ID, SIS User ID, SIS Login ID, Section, <assignment>``),
Moodle's grading worksheet (``Identifier`` = ``Participant <id>``, ``Grade``, ``Feedback comments``,
...) and Blackboard's Grade Center upload (``Last Name, First Name, Username, <column> [Total Pts:
N Score] |<column id>``). Every cell written is protected against spreadsheet formula injection.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

LMS_NAMES = ("canvas", "moodle", "blackboard")
MAX_FIELD = 120  # characters kept of any name or id read from a file name or a CSV
MAX_CSV_BYTES = 20_000_000


class LmsError(ValueError):
    """An option or a file the instructor gave cannot be used; the message says which and why."""


@dataclass
class LmsSubmission:
    """What an LMS download says about one file."""

    lms: str
    student_id: str            # the LMS's id: Canvas user id, Moodle participant id, Blackboard username
    name: str = ""             # as the LMS spells it ("doejane", "Jane Doe")
    submitted: datetime | None = None
    marked_late: bool = False  # Canvas's own LATE marker
    attempt_key: str = ""      # orders a student's attempts (the latest is graded)


def _field(text: str) -> str:
    return text[:MAX_FIELD]


# -------------------------------------------------------------------------------------------------
# reading the downloads' names

_CANVAS = re.compile(r"^(?P<name>[a-z0-9]+)_(?P<late>LATE_)?(?P<user>\d{1,20})_(?P<submission>\d{1,20})_(?P<file>.+)$")
_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<participant>\d{1,20})_assignsubmission_(?:file|onlinetext)_(?P<file>.*)$")
_BLACKBOARD_TIME = r"(?P<time>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})"
# <assignment>_<username> before "_attempt_": where the username starts is decided in parse_name
_BLACKBOARD = re.compile(r"^(?P<head>.*)_attempt_" + _BLACKBOARD_TIME + r"(?:_(?P<file>.+))?$")
_BLACKBOARD_RECEIPT = re.compile(r"^.*_attempt_" + _BLACKBOARD_TIME + r"\.txt$")
_BLACKBOARD_LAST_FIELD = re.compile(r"_(?P<user>[^_/\\]{1,100})$")
_BLACKBOARD_NAME = re.compile(r"^Name:\s*(?P<name>.{0,200}?)\s*\((?P<user>[^()\s]{1,100})\)\s*$")


def parse_name(lms: str, name: str, tz: tzinfo = timezone.utc, usernames: tuple[str, ...] = ()) -> LmsSubmission | None:
    """What the file (or folder) name ``name`` of an ``lms`` download says; None if it is not one of its names.

    A Blackboard username may hold ``_``, which also separates the name's fields: ``usernames`` (from the
    attempt receipts, which spell them out) are tried first, longest first; without one that fits, the
    username is the last ``_``-free field before ``_attempt_``."""
    if lms == "canvas":
        match = _CANVAS.match(name)
        if match:
            return LmsSubmission("canvas", _field(match["user"]), _field(match["name"]), None, bool(match["late"]),
                                 attempt_key=match["submission"].zfill(20))
    elif lms == "moodle":
        match = _MOODLE.match(name)
        if match:
            return LmsSubmission("moodle", _field(match["participant"]), _field(match["name"]))
    elif lms == "blackboard":
        match = _BLACKBOARD.match(name)
        if match:
            head = match["head"]
            user = next((u for u in sorted(usernames, key=len, reverse=True) if head.endswith("_" + u)), None)
            if user is None:
                last = _BLACKBOARD_LAST_FIELD.search(head)
                if last is None:
                    return None
                user = last["user"]
            try:
                when = datetime.strptime(match["time"], "%Y-%m-%d-%H-%M-%S").replace(tzinfo=tz)
            except ValueError:  # 2021-13-45-...: not a time
                return None
            return LmsSubmission("blackboard", _field(user), "", when, attempt_key=match["time"])
    else:
        raise LmsError(f"unknown LMS {lms!r}: use one of {', '.join(LMS_NAMES)}")
    return None


@dataclass(frozen=True)
class Receipt:
    """One Blackboard attempt receipt: whose attempt (username, full name) and when (its name's time)."""

    username: str
    name: str
    time: str


def blackboard_receipt_name(text: str) -> tuple[str, str] | None:
    """(full name, username) from the first line of a Blackboard attempt receipt, or None."""
    first = text.lstrip("\ufeff").splitlines()[:1]
    match = _BLACKBOARD_NAME.match(first[0]) if first else None
    return (_field(match["name"]), _field(match["user"])) if match else None


def read_receipts(folder: Path, entries: list[str]) -> dict[str, Receipt]:
    """``{entry: Receipt}`` for the Blackboard attempt receipts among ``entries`` (files of ``folder``)
    whose first line names the student."""
    result = {}
    for entry in entries:
        path, time = Path(folder) / entry, _BLACKBOARD_RECEIPT.match(entry)
        if time and path.is_file() and not path.is_symlink() and path.stat().st_size < 100_000:
            parsed = blackboard_receipt_name(path.read_text(errors="replace"))
            if parsed and entry.endswith(f"_{parsed[1]}_attempt_{time['time']}.txt"):
                result[entry] = Receipt(parsed[1], parsed[0], time["time"])
    return result


def read_download(lms: str, found: dict[str, Path | None], folder: Path, tz: tzinfo = timezone.utc,
                  receipts_read: dict[str, Receipt] | None = None) -> dict[str, LmsSubmission]:
    """``{entry: LmsSubmission}`` for the entries of :func:`~course_lib.grading.submissions.find_submissions`
    whose names the LMS made. Blackboard's receipts (``receipts_read``) give the students' names and
    spell out usernames that hold ``_``."""
    result = {}
    names = {receipt.username: receipt.name for receipt in (receipts_read or {}).values()}
    usernames = tuple(names)
    for entry, path in found.items():
        # a flat file's entry is its name without .ipynb: the original file name's extension went with it
        candidates = [entry + ".ipynb", entry] if path is not None and path.parent == Path(folder) else [entry]
        for candidate in candidates:
            parsed = parse_name(lms, candidate, tz, usernames)
            if parsed is not None:
                parsed.name = parsed.name or names.get(parsed.student_id, "")
                result[entry] = parsed
                break
    return result


def receipts(lms: str, found: dict[str, Path | None]) -> list[str]:
    """Entries that are an LMS's own metadata, not submissions (Blackboard's attempt receipts)."""
    if lms != "blackboard":
        return []
    return [entry for entry, path in found.items() if path is None and entry.endswith(".txt")
            and "_attempt_" in entry]


def latest_attempts(download: dict[str, LmsSubmission]) -> dict[str, str]:
    """``{entry: entry of the same student's latest attempt}`` for every attempt that is not the latest."""
    by_student: dict[str, list[str]] = {}
    for entry, submission in download.items():
        by_student.setdefault(submission.student_id, []).append(entry)
    superseded = {}
    for entries in by_student.values():
        ordered = sorted(entries, key=lambda e: (download[e].submitted or datetime.min.replace(tzinfo=timezone.utc),
                                                 download[e].attempt_key, e))
        for entry in ordered[:-1]:
            superseded[entry] = ordered[-1]
    return superseded


# -------------------------------------------------------------------------------------------------
# instructors' CSVs (hostile too: a typo or a crafted cell must not break or bend the batch)


def parse_time(text: str, tz: tzinfo = timezone.utc) -> datetime:
    """An ISO 8601 time (``2026-11-20T23:59``, ``2026-11-20 23:59:00+01:00``); naive times are in ``tz``."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise LmsError(f"{text[:60]!r} is not a time: write it as ISO 8601, e.g. 2026-11-20T23:59 or "
                       "2026-11-20T23:59+01:00") from None
    return when if when.tzinfo else when.replace(tzinfo=tz)


def read_csv_rows(path: Path, what: str) -> list[dict[str, str]]:
    """The rows of an instructor's CSV as dicts, with a size cap and errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise LmsError(f"{what} {path} does not exist")
    if path.stat().st_size > MAX_CSV_BYTES:
        raise LmsError(f"{what} {path} is larger than {MAX_CSV_BYTES // 1_000_000} MB: is it the right file?")
    text = path.read_bytes().decode("utf-8-sig", errors="replace")
    try:
        return [{(k or "").strip(): (v or "").strip() if isinstance(v, str) else "" for k, v in row.items()}
                for row in csv.DictReader(io.StringIO(text))]
    except csv.Error as error:
        raise LmsError(f"{what} {path} is not a CSV file ({error})") from None


def read_times(path: Path, tz: tzinfo, id_column: str = "student", time_column: str = "submitted") -> dict[str, datetime]:
    """``{student: time}`` from a CSV with columns ``id_column`` and ``time_column``."""
    times = {}
    for number, row in enumerate(read_csv_rows(path, "the CSV"), start=2):
        if id_column not in row or time_column not in row:
            raise LmsError(f"{path} needs the columns {id_column!r} and {time_column!r}; it has {list(row)[:10]}")
        try:
            times[_field(row[id_column])] = parse_time(row[time_column], tz)
        except LmsError as error:
            raise LmsError(f"{path}, line {number}: {error}") from None
    return times


MOODLE_TIME_FORMATS = ("%A, %d %B %Y, %I:%M %p", "%A, %d %B %Y, %H:%M", "%d %B %Y, %I:%M %p")


def read_moodle_worksheet_times(path: Path, tz: tzinfo) -> dict[str, datetime]:
    """``{participant id: submission time}`` from Moodle's grading worksheet
    ("Identifier" = "Participant 1234", "Last modified (submission)" = "Friday, 20 November 2026, 11:58 PM")."""
    times = {}
    for row in read_csv_rows(path, "the Moodle grading worksheet"):
        match = re.fullmatch(r"Participant (\d{1,20})", row.get("Identifier", ""))
        when = row.get("Last modified (submission)", "")
        if not match or not when or when == "-":
            continue
        for form in MOODLE_TIME_FORMATS:
            try:
                times[match[1]] = datetime.strptime(when, form).replace(tzinfo=tz)
                break
            except ValueError:
                continue
    return times


# -------------------------------------------------------------------------------------------------
# late work


@dataclass(frozen=True)
class LatePolicy:
    """A deadline, extensions by student id, and ``percent_per_day`` off per started day late (after
    ``grace_minutes``), at most ``cap_percent``."""

    deadline: datetime
    percent_per_day: float = 10.0
    cap_percent: float = 100.0
    grace_minutes: float = 0.0
    extensions: dict[str, datetime] = field(default_factory=dict)

    def __post_init__(self):
        if not (0 <= self.percent_per_day <= 100 and 0 <= self.cap_percent <= 100 and self.grace_minutes >= 0):
            raise LmsError("a late penalty is 0-100 percent per day with a cap of 0-100 percent and a grace "
                           "period of 0 minutes or more")

    def assess(self, student_id: str, submitted: datetime | None, marked_late: bool = False) -> tuple[float, str]:
        """(penalty in percent, the words for the row's status; '' when on time)."""
        deadline = self.extensions.get(student_id, self.deadline)
        extended = " (extended deadline)" if student_id in self.extensions else ""
        if submitted is None:
            return (0.0, "marked late by the LMS, but its time is unknown: no penalty applied "
                         "(give --submission-times)") if marked_late else (0.0, "")
        late = submitted - deadline
        if late <= timedelta(minutes=self.grace_minutes):
            return 0.0, ""
        days = math.ceil(late / timedelta(days=1))
        penalty = min(self.cap_percent, days * self.percent_per_day)
        return penalty, f"late by {_duration(late)}{extended}: -{penalty:g}%"


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{minutes} min"] * bool(minutes)
    return " ".join(parts[:2]) or "less than a minute"


def parse_penalty(text: str) -> tuple[float, float]:
    """``"10"`` or ``"10,cap=50"`` (percent per day, cap in percent) from the command line."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:,\s*cap\s*=\s*(\d+(?:\.\d+)?))?\s*", text)
    if not match:
        raise LmsError(f"--late-penalty {text!r}: write PERCENT_PER_DAY or PERCENT_PER_DAY,cap=PERCENT, e.g. 10,cap=50")
    return float(match[1]), float(match[2]) if match[2] else 100.0


def timezone_named(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except Exception:
        raise LmsError(f"unknown time zone {name!r}: use a name such as UTC or Europe/Berlin") from None


# -------------------------------------------------------------------------------------------------
# writing what each LMS imports


def spreadsheet_safe(value) -> str:
    """A cell a spreadsheet will not run as a formula (OWASP's CSV injection rule)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _split_name(name: str) -> tuple[str, str]:
    parts = name.split()
    return (" ".join(parts[:-1]), parts[-1]) if len(parts) > 1 else ("", name)


def write_lms_grades(lms: str, path: Path, rows: list[dict], assignment: str, maximum: float,
                     column_id: str = "") -> Path:
    """The grades file ``lms`` imports. ``rows``: dicts with ``student_id``, ``name``, ``total``
    (None: nothing to send) and ``comment``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    safe = lambda cells: writer.writerow([spreadsheet_safe(c) for c in cells])  # noqa: E731
    points = lambda row: "" if row["total"] is None else f"{row['total']:g}"  # noqa: E731
    if lms == "canvas":
        heading = f"{assignment} ({column_id})" if column_id else assignment
        safe(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", heading])
        safe(["    Points Possible", "", "", "", "", f"{maximum:g}"])
        for row in rows:
            safe([row["name"], row["student_id"], "", "", "", points(row)])
    elif lms == "moodle":
        safe(["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade", "Grade can be changed",
              "Last modified (submission)", "Last modified (grade)", "Feedback comments"])
        for row in rows:
            safe([f"Participant {row['student_id']}", row["name"], "", "", points(row), f"{maximum:g}", "Yes", "", "",
                  row["comment"]])
    elif lms == "blackboard":
        heading = f"{assignment} [Total Pts: {maximum:g} Score]" + (f" |{column_id}" if column_id else "")
        safe(["Last Name", "First Name", "Username", heading])
        for row in rows:
            first, last = _split_name(row["name"])
            safe([last, first, row["student_id"], points(row)])
    else:
        raise LmsError(f"unknown LMS {lms!r}: use one of {', '.join(LMS_NAMES)}")
    path = Path(path)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


# -------------------------------------------------------------------------------------------------
# one batch's view of its download


@dataclass(frozen=True)
class LmsOptions:
    """What ``course grade --lms ...`` was told."""

    lms: str
    tz: tzinfo = timezone.utc
    policy: LatePolicy | None = None
    times: dict[str, datetime] = field(default_factory=dict)   # student id -> submission time (a CSV's)
    assignment: str = ""
    column_id: str = ""


@dataclass
class DownloadView:
    """Per entry of the submissions folder: the LMS's student id, notes for the status, the penalty."""

    submissions: dict[str, LmsSubmission] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)          # entry -> the id to grade it under
    notes: dict[str, str] = field(default_factory=dict)
    penalties: dict[str, float] = field(default_factory=dict)
    superseded: dict[str, str] = field(default_factory=dict)   # entry -> the entry graded instead
    receipts: list[str] = field(default_factory=list)
    #: receipt entry -> its Receipt, for students whose download holds a receipt but no notebook: each
    #: gets a row (0 points, "missing"), so that nobody who submitted is silently left out
    without_notebook: dict[str, Receipt] = field(default_factory=dict)


def view_download(options: LmsOptions, found: dict[str, Path | None], folder: Path) -> DownloadView:
    """Read the LMS's names, pick each student's latest attempt, and decide each penalty."""
    view = DownloadView(receipts=receipts(options.lms, found))
    receipts_read = read_receipts(folder, view.receipts) if options.lms == "blackboard" else {}
    view.submissions = read_download(options.lms, {e: p for e, p in found.items() if e not in view.receipts},
                                     folder, options.tz, receipts_read)
    view.superseded = latest_attempts(view.submissions)
    has_row = {s.student_id for s in view.submissions.values()}
    for entry, receipt in sorted(receipts_read.items()):
        if receipt.username not in has_row:
            has_row.add(receipt.username)
            view.without_notebook[entry] = receipt
            view.submissions[entry] = LmsSubmission("blackboard", receipt.username, receipt.name)
            view.ids[entry] = receipt.username
    for entry in found:
        if entry in view.receipts:
            continue
        submission = view.submissions.get(entry)
        if submission is None:
            view.notes[entry] = f"not a {options.lms.capitalize()} download name: graded under the file's own name"
            continue
        view.ids[entry] = submission.student_id
        when = options.times.get(submission.student_id, submission.submitted)
        if options.policy is not None and entry not in view.superseded:
            penalty, words = options.policy.assess(submission.student_id, when, submission.marked_late)
            view.penalties[entry] = penalty
            if words:
                view.notes[entry] = words
        elif submission.marked_late and entry not in view.superseded:
            view.notes[entry] = "marked late by the LMS (no late policy given)"
    last_receipt: dict[str, str] = {}
    for receipt in receipts_read.values():
        last_receipt[receipt.username] = max(receipt.time, last_receipt.get(receipt.username, ""))
    for entry, submission in view.submissions.items():
        later = last_receipt.get(submission.student_id, "")
        if later > submission.attempt_key and entry not in view.superseded and entry not in view.without_notebook:
            view.notes[entry] = "; ".join(filter(None, (view.notes.get(entry), (
                f"Blackboard lists a later attempt ({later}) without a notebook: the latest notebook was graded"))))
    return view
