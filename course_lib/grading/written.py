"""Written answers, graded by people: one page per question with every answer side by side, a CSV
to fill in, and a merge that puts the points into grades.csv and regenerates each student's feedback.

A written question is a markdown answer cell that nbgrader grades by hand (``solution: true`` and
``grade: true``). After ``course grade`` (which calls :func:`write_pages`), ``OUTPUT/written/`` holds

* ``<grade_id>.html``: the question (the instructor's cell before the answer) and every student's
  answer, rendered from markdown and sanitised with bleach, as the feedback pages are (an allowlist
  of text tags: no script, no event handler, no image, no ``javascript:`` link; the rest is shown
  as text), math by the MathJax copy in ``OUTPUT/feedback/``, and a Content-Security-Policy that
  allows only the page's own scripts;
* ``scores.csv``: ``student, question, max_points, points, comment``, one row per student and
  question, ``points`` empty until a person fills it in.

``course grade-written merge OUTPUT CSV`` (:func:`merge`) checks every row (a known student, a
known question, points a number from 0 to the maximum, a comment of at most 5,000 characters;
any bad row stops the merge before anything is written, naming its line), then, in one nbgrader
run (:class:`~course_lib.grading.recorder.Recorder`), re-records the students' autograded
notebooks in a fresh copy of the chapter's template (the same verdicts, read back from the
notebooks), enters the people's points and comments in its gradebook, and regenerates the feedback
pages; grades.csv and rows.jsonl get the new scores. The template course of that run can be kept
(``--formgrader DIR``) for nbgrader's own formgrader; ``merge --gradebook DIR/gradebook.db`` then
takes the points from it instead of a CSV.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import nbformat

MAX_COMMENT = 5000
BATCH_FILE = "batch.json"  # what `course grade` tells later commands: chapter, solutions, cells


class WrittenError(ValueError):
    """A scores file or an output folder cannot be merged; the message names the line and the fix."""


def _meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def written_questions(release: nbformat.NotebookNode) -> dict[str, tuple[float, str]]:
    """``{grade_id: (points, the question's text)}`` of the markdown cells graded by hand."""
    questions = {}
    for index, cell in enumerate(release.cells):
        meta = _meta(cell)
        if cell.cell_type == "markdown" and meta.get("solution") and meta.get("grade"):
            prompt = release.cells[index - 1].source if index and release.cells[index - 1].cell_type == "markdown" else ""
            questions[meta["grade_id"]] = (float(meta.get("points", 0)), prompt)
    return questions


def _answers(output_dir: Path, grade_id: str) -> dict[str, str]:
    """``{student: markdown}`` of one question, from the autograded notebooks."""
    answers = {}
    for path in sorted((output_dir / "autograded").glob("*.ipynb")):
        try:
            notebook = nbformat.read(path, as_version=4)
        except Exception:  # written by nbgrader; unreadable only if damaged since
            continue
        for cell in notebook.cells:
            if _meta(cell).get("grade_id") == grade_id and cell.cell_type == "markdown":
                answers[path.stem] = cell.source
    return answers


# Text structure only: no image, style, form, frame or script; links keep only http(s) and mailto targets.
ALLOWED_TAGS = {"a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
                "i", "li", "ol", "p", "pre", "span", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead",
                "tr", "ul"}


def render_markdown(text: str) -> str:
    """Markdown as HTML a browser may show: rendered by nbconvert's mistune, then cleaned by bleach with
    :data:`ALLOWED_TAGS` (anything else, a script or an event handler included, is shown as text)."""
    import bleach
    from nbconvert.filters.markdown import markdown2html

    return bleach.clean(markdown2html(text), tags=ALLOWED_TAGS, attributes={"a": ["href", "title"]},
                        protocols={"http", "https", "mailto"})


PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; font-src 'self'">
<script>window.MathJax = {{tex: {{inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]]}}}};</script>
<script src="../feedback/mathjax/tex-mml-chtml.js"></script>
<style>body{{font-family:sans-serif;margin:1em}} .answers{{display:grid;grid-template-columns:repeat(auto-fill,minmax(28em,1fr));gap:1em}}
.answer{{border:1px solid #bbb;border-radius:4px;padding:.5em 1em}} .answer h2{{font-size:1em;background:#eee;margin:-.5em -1em .5em;padding:.3em 1em}}
.question{{background:#f6f6ff;padding:.5em 1em}}</style></head>
<body><h1>{title}</h1><div class="question">{question}</div>
<p>{count} answers. Grade them in <code>scores.csv</code> beside this page (points out of {points:g}), then run
<code>course grade-written merge OUTPUT written/scores.csv</code>.</p>
<div class="answers">{answers}</div></body></html>
"""


def write_pages(output_dir: Path, release: nbformat.NotebookNode) -> list[Path]:
    """``written/<grade_id>.html`` per written question and ``written/scores.csv``; returns the pages."""
    output_dir = Path(output_dir)
    questions = written_questions(release)
    if not questions:
        return []
    folder = output_dir / "written"
    folder.mkdir(exist_ok=True)
    pages = []
    rows = []
    for grade_id, (points, prompt) in questions.items():
        answers = _answers(output_dir, grade_id)
        blocks = "".join(f'<div class="answer"><h2>{html.escape(student)}</h2>{render_markdown(text)}</div>'
                         for student, text in answers.items())
        page = folder / f"{grade_id}.html"
        page.write_text(PAGE.format(title=html.escape(f"Written answers: {grade_id}"),
                                    question=render_markdown(prompt), count=len(answers), points=points,
                                    answers=blocks), encoding="utf-8")
        pages.append(page)
        rows += [[student, grade_id, f"{points:g}", "", ""] for student in answers]
    scores = folder / "scores.csv"
    if not scores.exists():  # never overwrite what a person may have filled in
        with scores.open("w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["student", "question", "max_points", "points", "comment"])
            writer.writerows(sorted(rows))
    return pages


def read_scores_file(path: Path, students: set[str], questions: dict[str, float]) -> dict[str, dict[str, tuple]]:
    """``{student: {question: (points, comment)}}`` of the rows with points; :class:`WrittenError` at the
    first bad row (nothing is merged then)."""
    path = Path(path)
    if not path.is_file():
        raise WrittenError(f"no scores file {path}")
    if path.stat().st_size > 20_000_000:
        raise WrittenError(f"{path} is larger than 20 MB: is it the scores file?")
    try:
        rows = list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error) as error:
        raise WrittenError(f"{path} is not a UTF-8 CSV file ({error})") from None
    marks: dict[str, dict[str, tuple]] = {}
    for line, row in enumerate(rows, start=2):
        where = f"{path.name}, line {line}"
        student, question = (row.get("student") or "").strip(), (row.get("question") or "").strip()
        points_text, comment = (row.get("points") or "").strip(), row.get("comment") or ""
        if not points_text and not comment.strip():
            continue  # not graded yet
        if student not in students:
            raise WrittenError(f"{where}: no student {student[:80]!r} in this batch")
        if question not in questions:
            raise WrittenError(f"{where}: {question[:80]!r} is not a written question "
                               f"(they are: {', '.join(questions)})")
        try:
            points = float(points_text) if points_text else None
        except ValueError:
            points = math.nan
        if points is not None and not (math.isfinite(points) and 0 <= points <= questions[question]):
            raise WrittenError(f"{where}: points {points_text[:20]!r} must be a number from 0 to {questions[question]:g}")
        if len(comment) > MAX_COMMENT:
            raise WrittenError(f"{where}: the comment is longer than {MAX_COMMENT} characters")
        if question in marks.get(student, {}):
            raise WrittenError(f"{where}: {student} / {question} is graded twice in this file")
        marks.setdefault(student, {})[question] = (points, comment)
    return marks


def verdicts_from_autograded(notebook: nbformat.NotebookNode) -> dict:
    """The verdict file :class:`~course_lib.grading.verdicts.ApplyVerdicts` wrote this notebook from,
    read back from its outputs (a test cell passed when it has no error output)."""
    verdicts, outputs = {}, {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        meta = _meta(cell)
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if meta.get("grade") and not meta.get("solution"):
            verdicts[meta["grade_id"]] = {"passed": not errors, "message": errors[0].get("evalue", "") if errors else ""}
        else:
            stdout = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
            outputs[str(index)] = {"stdout": stdout,
                                   "error": [errors[0].get("ename", ""), errors[0].get("evalue", "")] if errors else None}
    return {"verdicts": verdicts, "outputs": outputs}


def merge(output_dir: Path, scores_file: Path | None = None, gradebook: Path | None = None,
          keep_course: Path | None = None) -> list[str]:
    """Merge people's points (a scores CSV, or a formgrader gradebook) into ``output_dir``; returns the
    students whose rows changed. See the module docstring."""
    from course_lib.grading.grade import (Limits, StudentGrade, collect_outputs, load_rows, prepare_template,
                                          write_grades_csv)
    from course_lib.grading.recorder import Recorder

    output_dir = Path(output_dir)
    batch_file = output_dir / BATCH_FILE
    if not batch_file.is_file():
        raise WrittenError(f"{output_dir} is not the output folder of `course grade` (no {BATCH_FILE})")
    batch = json.loads(batch_file.read_text())
    chapter, cells = batch["chapter"], {k: float(v) for k, v in batch["cells"].items()}
    rows = load_rows(output_dir / "rows.jsonl")
    latest = {grade.student: grade for grade in rows.values()}
    with tempfile.TemporaryDirectory(prefix="written-") as scratch, Recorder() as recorder:
        template = prepare_template(Path(scratch) / "template", chapter, Path(batch["solutions"]), Limits(),
                                    trusted=True, isolate_network=False, recorder=recorder)
        release = nbformat.read(template / "release" / chapter / f"{chapter}.ipynb", as_version=4)
        questions = {g: p for g, (p, _) in written_questions(release).items()}
        graded = {p.stem for p in (output_dir / "autograded").glob("*.ipynb")} & set(latest)
        if gradebook is not None:
            marks = recorder.request({"op": "manual_scores", "gradebook": str(Path(gradebook).resolve()),
                                      "chapter": chapter, "questions": list(questions)}, 300).get("marks", {})
            marks = {s: {q: tuple(v) for q, v in m.items()} for s, m in marks.items() if s in graded}
        elif scores_file is not None:
            marks = read_scores_file(scores_file, graded, questions)
        else:
            marks = {}
        recorded = sorted(marks) if marks else sorted(graded) if keep_course is not None else []
        if not recorded:
            return []
        root = Path(shutil.copytree(template, Path(scratch) / "course"))
        verdicts = Path(scratch) / "verdicts"
        verdicts.mkdir()
        for student in recorded:
            notebook = nbformat.read(output_dir / "autograded" / f"{student}.ipynb", as_version=4)
            target = root / "submitted" / student / chapter / f"{chapter}.ipynb"
            target.parent.mkdir(parents=True)
            nbformat.write(notebook, target)
            (verdicts / f"{student}.json").write_text(json.dumps(verdicts_from_autograded(notebook)))
        reply = recorder.request({"op": "record", "root": str(root), "chapter": chapter, "verdicts": str(verdicts),
                                  "manual": {s: {q: list(v) for q, v in m.items()} for s, m in marks.items()}},
                                 120 + 20 * len(recorded))
        if not reply.get("ok"):
            raise WrittenError(f"nbgrader could not record the scores: {reply.get('error', '')[-500:]}")
        changed = []
        for student in marks:
            if student not in reply["scores"]:
                continue
            old = latest[student]
            scores = {g: (None if manual else score) for g, (score, manual) in reply["scores"][student].items()}
            grade = StudentGrade(**{**asdict(old), "scores": scores})
            collect_outputs(root, chapter, student, output_dir)
            with (output_dir / "rows.jsonl").open("a") as handle:
                handle.write(json.dumps(asdict(grade)) + "\n")
            latest[student] = grade
            changed.append(student)
        if keep_course is not None:
            shutil.copytree(root, keep_course, dirs_exist_ok=True)
    write_grades_csv(output_dir / "grades.csv", sorted(latest.values(), key=lambda g: g.student), cells)
    return changed
