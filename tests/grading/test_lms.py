"""LMS downloads in, LMS grades files out, late penalties: exact parses, exact files, hostile names and CSVs."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from course_lib import cli
from course_lib.grading.lms import (LatePolicy, LmsError, LmsOptions, blackboard_receipt_name, parse_name,
                                    parse_penalty, parse_time, read_moodle_worksheet_times, read_times,
                                    spreadsheet_safe, view_download, write_lms_grades)
from course_lib.grading.submissions import find_submissions
from crafting import Crafting

FIXTURES = Path(__file__).parent / "fixtures" / "lms"
UTC = timezone.utc


def names(lms: str) -> list[str]:
    return [line for line in (FIXTURES / f"{lms}_names.txt").read_text().splitlines()
            if line and not line.startswith("#")]


def download(lms: str, folder: Path, notebook) -> Path:
    """A folder laid out as ``lms``'s download, every notebook ``notebook`` (bytes)."""
    import nbformat

    folder.mkdir(parents=True)
    receipt = (FIXTURES / "blackboard_receipt.txt").read_text()
    for name in names(lms):
        if name.endswith(".txt"):
            user = name.split("_")[1]
            (folder / name).write_text(receipt.format(name={"jdoe": "Jane Doe", "bsmith": "Bob Smith"}[user],
                                                      user=user, file=name))
            continue
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, path)
    return folder


# ------------------------------------------------------------------------------------------- names

def test_canvas_names_give_user_id_name_and_late_marker():
    parsed = [parse_name("canvas", n) for n in names("canvas")]
    assert [(p.student_id, p.name, p.marked_late, p.submitted) for p in parsed] == [
        ("48213", "doejane", False, None), ("48214", "smithjohn", True, None),
        ("48215", "oconnorsean", False, None), ("48215", "oconnorsean", False, None)]


def test_moodle_names_give_participant_id_and_full_name_in_both_layouts():
    assert [(p.student_id, p.name) for p in (parse_name("moodle", n.split("/")[0]) for n in names("moodle"))] == [
        ("1234567", "Jane Doe"), ("1234568", "José Álvarez")]


def test_blackboard_names_give_username_and_time_and_receipts_give_the_name():
    parsed = parse_name("blackboard", names("blackboard")[0])
    assert (parsed.student_id, parsed.submitted) == ("jdoe", datetime(2026, 11, 20, 23, 58, 1, tzinfo=UTC))
    text = (FIXTURES / "blackboard_receipt.txt").read_text().format(name="Jane Doe", user="jdoe", file="x")
    assert blackboard_receipt_name(text) == ("Jane Doe", "jdoe")


@pytest.mark.parametrize("lms, name", [
    ("canvas", "../../etc/passwd"), ("canvas", "doejane_48213_params.ipynb"),   # no submission id
    ("canvas", "DoeJane_48213_1_params.ipynb"),                                  # Canvas writes lower case
    ("canvas", "doejane_" + "9" * 400 + "_1_params.ipynb"),                      # an id of 400 digits
    ("moodle", "Jane Doe_12a_assignsubmission_file_x.ipynb"), ("moodle", "params.ipynb"),
    ("blackboard", "A_jdoe_attempt_2026-13-45-99-99-99_x.ipynb"),                 # not a time
    ("blackboard", "A_j/doe_attempt_2026-11-20-23-58-01_x.ipynb"),
])
def test_names_an_lms_does_not_make_are_not_read_as_one(lms, name):
    assert parse_name(lms, name) is None


def test_hostile_fields_are_capped_and_a_receipt_cannot_smuggle_lines():
    long_name = "x" * 5000
    parsed = parse_name("moodle", f"{long_name}_1_assignsubmission_file_a.ipynb")
    assert len(parsed.name) == 120
    assert blackboard_receipt_name("Name: Eve\nName: Mallory (root)") is None
    assert blackboard_receipt_name("Name: <script>x</script> (eve)") == ("<script>x</script>", "eve")


def test_a_download_folder_maps_entries_to_students_latest_attempt_first(tmp_path):
    folder = download("canvas", tmp_path / "canvas", Crafting("params").blank())
    found = find_submissions(folder, "params")
    view = view_download(LmsOptions("canvas"), found, folder)
    assert view.ids == {"doejane_48213_1130022_params": "48213", "smithjohn_LATE_48214_1130101_params-1": "48214",
                        "oconnorsean_48215_1130007_params": "48215", "oconnorsean_48215_1130999_params-2": "48215"}
    assert view.superseded == {"oconnorsean_48215_1130007_params": "oconnorsean_48215_1130999_params-2"}
    assert view.notes == {"smithjohn_LATE_48214_1130101_params-1": "marked late by the LMS (no late policy given)"}


def test_blackboard_receipts_are_metadata_not_rows(tmp_path):
    folder = download("blackboard", tmp_path / "bb", Crafting("params").blank())
    found = find_submissions(folder, "params")
    view = view_download(LmsOptions("blackboard"), found, folder)
    assert sorted(view.receipts) == sorted(n for n in names("blackboard") if n.endswith(".txt"))
    assert {e: (s.student_id, s.name) for e, s in view.submissions.items()} == {
        "Params exercise_jdoe_attempt_2026-11-20-23-58-01_params": ("jdoe", "Jane Doe"),
        "Params exercise_bsmith_attempt_2026-11-21-09-30-00_params": ("bsmith", "Bob Smith")}


def add_blackboard_attempt(folder: Path, user: str, name: str, time: str, notebook=None) -> None:
    """One more Blackboard attempt in ``folder``: its receipt, and its notebook unless ``notebook`` is None."""
    import nbformat

    stem = f"Params exercise_{user}_attempt_{time}"
    receipt = (FIXTURES / "blackboard_receipt.txt").read_text()
    (folder / f"{stem}.txt").write_text(receipt.format(name=name, user=user, file=f"{stem}_params.ipynb"))
    if notebook is not None:
        nbformat.write(notebook, folder / f"{stem}_params.ipynb")


def test_a_blackboard_username_with_underscores_is_read_from_its_receipt(tmp_path):
    name = "Params exercise_jane_o_doe_attempt_2026-11-20-23-58-01_params.ipynb"
    assert parse_name("blackboard", name).student_id == "doe"  # without the receipt: ambiguous
    assert parse_name("blackboard", name, usernames=("o_doe", "jane_o_doe")).student_id == "jane_o_doe"
    folder = tmp_path / "bb"
    folder.mkdir()
    add_blackboard_attempt(folder, "jane_o_doe", "Jane O'Doe", "2026-11-20-23-58-01", Crafting("params").blank())
    add_blackboard_attempt(folder, "o_doe", "Olive Doe", "2026-11-20-22-00-00", Crafting("params").blank())
    view = view_download(LmsOptions("blackboard"), find_submissions(folder, "params"), folder)
    assert {e.split("_attempt_")[1]: (s.student_id, s.name) for e, s in view.submissions.items()} == {
        "2026-11-20-23-58-01_params": ("jane_o_doe", "Jane O'Doe"), "2026-11-20-22-00-00_params": ("o_doe", "Olive Doe")}
    assert not view.superseded and not view.without_notebook


def test_a_blackboard_receipt_without_a_notebook_is_a_missing_row_and_a_later_one_a_note(tmp_path):
    folder = download("blackboard", tmp_path / "bb", Crafting("params").blank())
    add_blackboard_attempt(folder, "cwu", "Chen Wu", "2026-11-20-20-00-00")            # text only, no file
    add_blackboard_attempt(folder, "jdoe", "Jane Doe", "2026-11-22-08-00-00")          # a later attempt, no file
    view = view_download(LmsOptions("blackboard"), find_submissions(folder, "params"), folder)
    assert {e: (r.username, r.name, r.time) for e, r in view.without_notebook.items()} == {
        "Params exercise_cwu_attempt_2026-11-20-20-00-00.txt": ("cwu", "Chen Wu", "2026-11-20-20-00-00")}
    assert view.notes["Params exercise_jdoe_attempt_2026-11-20-23-58-01_params"] == (
        "Blackboard lists a later attempt (2026-11-22-08-00-00) without a notebook: the latest notebook was graded")
    assert "Params exercise_bsmith_attempt_2026-11-21-09-30-00_params" not in view.notes


# ------------------------------------------------------------------------------------------- late work

DEADLINE = datetime(2026, 11, 20, 23, 59, tzinfo=UTC)


@pytest.mark.parametrize("late_by, expected", [
    (timedelta(minutes=-1), (0.0, "")),
    (timedelta(minutes=1), (10.0, "late by 1 min: -10%")),
    (timedelta(days=1, hours=2), (20.0, "late by 1 d 2 h: -20%")),
    (timedelta(days=9), (50.0, "late by 9 d: -50%")),   # the cap
])
def test_the_penalty_counts_started_days_up_to_the_cap(late_by, expected):
    policy = LatePolicy(DEADLINE, 10, 50)
    assert policy.assess("s", DEADLINE + late_by) == expected


def test_an_extension_moves_the_deadline_and_grace_forgives_minutes():
    policy = LatePolicy(DEADLINE, 10, 100, grace_minutes=15, extensions={"ext": DEADLINE + timedelta(days=2)})
    assert policy.assess("ext", DEADLINE + timedelta(days=1)) == (0.0, "")
    assert policy.assess("ext", DEADLINE + timedelta(days=2, hours=1)) == (10.0, "late by 1 h (extended deadline): -10%")
    assert policy.assess("other", DEADLINE + timedelta(minutes=14)) == (0.0, "")
    assert policy.assess("canvas", None, marked_late=True)[0] == 0.0


@pytest.mark.parametrize("text", ["-5", "10,cap=", "10;rm -rf /", "1e9", "ten"])
def test_a_malformed_penalty_is_refused_with_the_form_to_use(text):
    with pytest.raises(LmsError, match="PERCENT_PER_DAY"):
        parse_penalty(text)


def test_penalties_out_of_range_are_refused():
    with pytest.raises(LmsError):
        LatePolicy(DEADLINE, 150, 100)
    assert parse_penalty("12.5,cap=40") == (12.5, 40.0)


def test_instructor_csvs_are_read_strictly(tmp_path):
    good = tmp_path / "ext.csv"
    good.write_text("student,deadline\n48213,2026-11-22T12:00\n")
    assert read_times(good, UTC, "student", "deadline") == {"48213": datetime(2026, 11, 22, 12, 0, tzinfo=UTC)}
    bad = tmp_path / "bad.csv"
    bad.write_text("student,deadline\n48213,=HYPERLINK(\"http://x\")\n")
    with pytest.raises(LmsError, match="line 2.*not a time"):
        read_times(bad, UTC, "student", "deadline")
    with pytest.raises(LmsError, match="needs the columns"):
        read_times(good, UTC, "student", "submitted")
    with pytest.raises(LmsError, match="does not exist"):
        read_times(tmp_path / "missing.csv", UTC)
    assert parse_time("2026-11-20T23:59+01:00") == datetime(2026, 11, 20, 22, 59, tzinfo=UTC)


def test_moodle_worksheet_gives_submission_times():
    assert read_moodle_worksheet_times(FIXTURES / "moodle_worksheet.csv", UTC) == {
        "1234567": datetime(2026, 11, 20, 23, 58, tzinfo=UTC), "1234568": datetime(2026, 11, 22, 10, 15, tzinfo=UTC)}


# ------------------------------------------------------------------------------------------- out

ROWS = [{"student_id": "48213", "name": "Jane Doe", "total": 19.0, "comment": "ok"},
        {"student_id": "48214", "name": "=cmd|' /C calc'!A0", "total": 15.2, "comment": "late by 1 d: -20%"},
        {"student_id": "48215", "name": "Sean O'Connor", "total": None, "comment": "not graded"}]


def read_back(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text())))


def test_canvas_gradebook_csv(tmp_path):
    rows = read_back(write_lms_grades("canvas", tmp_path / "c.csv", ROWS, "Params", 21, "5521"))
    assert rows == [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Params (5521)"],
                    ["    Points Possible", "", "", "", "", "21"],
                    ["Jane Doe", "48213", "", "", "", "19"],
                    ["'=cmd|' /C calc'!A0", "48214", "", "", "", "15.2"],
                    ["Sean O'Connor", "48215", "", "", "", ""]]


def test_moodle_grading_worksheet(tmp_path):
    rows = read_back(write_lms_grades("moodle", tmp_path / "m.csv", ROWS[:1], "Params", 21))
    assert rows[0][:5] == ["Identifier", "Full name", "Email address", "Status", "Grade"]
    assert rows[1] == ["Participant 48213", "Jane Doe", "", "", "19", "21", "Yes", "", "", "ok"]


def test_blackboard_grade_center_csv(tmp_path):
    rows = read_back(write_lms_grades("blackboard", tmp_path / "b.csv", ROWS[:1], "Params exercise", 21, "_77_1"))
    assert rows == [["Last Name", "First Name", "Username", "Params exercise [Total Pts: 21 Score] |_77_1"],
                    ["Doe", "Jane", "48213", "19"]]


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"])
def test_every_formula_start_is_defused(cell):
    assert spreadsheet_safe(cell) == "'" + cell


# ------------------------------------------------------------------------------------------- a whole batch

def test_course_grade_reads_a_blackboard_download_applies_lateness_and_writes_its_csv(tmp_path, capsys):
    params = Crafting("params")
    folder = download("blackboard", tmp_path / "bb", params.correct())
    add_blackboard_attempt(folder, "cwu", "Chen Wu", "2026-11-20-20-00-00")
    extensions = tmp_path / "extensions.csv"
    extensions.write_text("student,deadline\nbsmith,2026-11-21T12:00\n")
    output = tmp_path / "graded"
    code = cli.main(["grade", "params", str(folder), "--output", str(output), "--jobs", "2", "--lms", "blackboard",
                     "--lms-assignment", "Params exercise", "--deadline", "2026-11-20T12:00",
                     "--late-penalty", "10,cap=30", "--extensions", str(extensions)])
    assert code == 0, capsys.readouterr().out
    table = {row["student"]: row for row in csv.DictReader((output / "grades.csv").open())}
    assert sorted(table) == ["bsmith", "cwu", "jdoe"]  # receipts are not rows; a receipt alone is "missing"
    assert (table["cwu"]["total"], table["cwu"]["status"]) == (
        "0", "missing: Blackboard lists an attempt (2026-11-20-20-00-00) but the download has no notebook for it")
    assert (table["jdoe"]["total"], table["jdoe"]["status"]) == ("17.1", "late by 11 h 58 min: -10%")
    assert (table["bsmith"]["total"], table["bsmith"]["status"]) == ("19", "ok")
    lms_rows = read_back(output / "grades-blackboard.csv")
    assert lms_rows[0] == ["Last Name", "First Name", "Username", "Params exercise [Total Pts: 21 Score]"]
    assert sorted(lms_rows[1:]) == [["Doe", "Jane", "jdoe", "17.1"], ["Smith", "Bob", "bsmith", "19"],
                                    ["Wu", "Chen", "cwu", "0"]]


def test_lateness_options_without_an_lms_are_refused(tmp_path, capsys):
    assert cli.main(["grade", "params", str(tmp_path), "--deadline", "2026-11-20T12:00"]) == 1
    assert "need --lms" in capsys.readouterr().out
