"""Running a chapter's checks in this process, for fast unit tests: the solution's answers as a
notebook would define them, and every case, visible and hidden, as the grader sends it."""

from __future__ import annotations

import linecache
import os
from pathlib import Path

from course_lib.checks import find_check
from course_lib.checks.base import perform
from course_lib.grading import wire
from course_lib.grading.checks import CheckFailed
from course_lib.grading.trusted import load_instructor_half
from crafting import REPO, Crafting, grade_batch, processes_with


def notebook(chapter: Crafting, **answers) -> dict:
    """The namespace of the solution's setup cell and code answers (``answers`` replaces some by grade id),
    each run as IPython runs a cell: its source in linecache, so that ``inspect`` can read it."""
    setup = next(c.source for c in chapter.solution.cells
                 if c.metadata.get("nbgrader", {}).get("grade_id") == "given_setup")
    cells = {"given_setup": setup, **{g: a for g, a in chapter.answers.items() if g not in chapter.written}, **answers}
    namespace = {"__name__": "__main__"}
    for grade_id, source in cells.items():
        filename = f"<cell {grade_id}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(compile(source, filename, "exec"), namespace)
    return namespace


def replaced(chapter: Crafting, grade_id: str, old: str, new: str) -> dict:
    """The solution's notebook with ``old`` replaced by ``new`` in the answer ``grade_id``."""
    source = chapter.answers[grade_id]
    assert old in source, (grade_id, old)
    return notebook(chapter, **{grade_id: source.replace(old, new)})


def mutant(chapter: Crafting, *edits: tuple[str, str, str]):
    """A correct notebook with each (answer grade_id, old, new) edit made (see Crafting.replace_each)."""
    return chapter.replace_each(*edits)


def as_data(value):
    return wire.loads(wire.dumps(wire.encode(value)))


def every_case(name: str, obj) -> None:
    """What the grader does, here: the rule, then the visible and hidden cases over the wire."""
    check = find_check(name)
    hidden, _ = load_instructor_half(REPO, name.split(".")[0])
    problem = check.rule.judge_object(obj, check.target) if check.rule else ""
    if problem:
        raise CheckFailed(problem)
    for case in check.visible_cases() + hidden[name]:
        check.compare(case, as_data(perform(as_data(check.request(case)), obj)), check.expected(case))


def seconds_since_boot() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


def oracles_left_behind(since: float) -> list[str]:
    """Sandboxed notebooks (``course_lib.grading.oracle``) still running that this test process
    started: its descendants, and orphans started after ``since`` (:func:`seconds_since_boot`).
    On a machine shared with other jobs, their sandboxes are not ours to count."""
    ticks = os.sysconf("SC_CLK_TCK")
    left = []
    for found in processes_with("course_lib.grading.oracle"):
        pid = found.split(":", 1)[0]
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        parent, started = int(stat[1]), int(stat[19]) / ticks
        orphan, ancestors = parent <= 1, set()
        while parent > 1 and parent not in ancestors:
            ancestors.add(parent)
            try:
                parent = int(Path(f"/proc/{parent}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                break
        if os.getpid() in ancestors or (orphan and started >= since):
            left.append(found)
    return left


def grade_chapter_batch(chapter: str, batch: dict, folder: Path) -> dict:
    """:func:`crafting.grade_batch` with the options the chapter batches use, and the time it began
    (for :func:`assert_nothing_leaked_or_left`)."""
    started = seconds_since_boot()
    graded = grade_batch(chapter, batch, folder, "--jobs", "2", "--timeout", "30", "--notebook-timeout", "120")
    return {"started": started, **graded}


def assert_nothing_leaked_or_left(graded: dict, secrets: tuple[str, ...]) -> None:
    """No returned file (feedback, autograded notebooks, grades) holds a text of the instructor's
    half, and no sandbox of the batch still runs."""
    for path in graded["output"].rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not [s for s in secrets if s in text], path.name
    assert oracles_left_behind(since=graded["started"]) == []


def hostile_replies():
    """Replies a sandboxed notebook may send instead of an answer: any of them must fail the check
    with a message, never break the grader's comparison."""
    import torch

    opaque = wire.Opaque("Cheater")
    return [None, 3, True, "ok", opaque, [], {}, [["value"]], [["raised", 1, 2]], {"layers": "x"},
            {"layers": {}, "loaded": ""}, {"loss": torch.zeros(2)}, {"loss": torch.tensor(1.0), "has_graph": True},
            [{"returned": (opaque, 1.0)}, {}], [{"returned": (1.0, 2.0), "weights": "x"}] * 2, torch.zeros(3, 2)]


def assert_hostile_replies_fail(name: str) -> None:
    check = find_check(name)
    hidden, _ = load_instructor_half(REPO, name.split(".")[0])
    for case in check.visible_cases() + hidden[name][:1]:
        expected = check.expected(case)
        for reply in hostile_replies():
            try:
                check.compare(case, reply, expected)
            except CheckFailed:
                continue
            raise AssertionError(f"{name} accepted {reply!r}")
