"""nbgrader's side of trusted grading: scores from the grader's verdicts, feedback that waits for people.

nbgrader stays the workflow (gradebook, scores, feedback, formgrader), but in the autograder's
pipeline its ``Execute`` step -- which would start a kernel and read pass or fail from what the
kernel prints -- is replaced by :class:`ApplyVerdicts`. It starts nothing: it writes each cell's
outputs from the verdict file the trusted grader wrote (``<student>.json`` in the folder named by
``COURSE_GRADER_VERDICTS``, which no sandbox sees):

* a graded test cell gets no output when its check passed and one error output carrying the
  grader's message when it failed -- so nbgrader's own ``SaveAutoGrades`` gives full or no points,
  from the points in the instructor's cell metadata; no ``execute_result`` is ever written, so
  nbgrader's "a number is partial credit" rule cannot be reached;
* every other code cell gets what it printed in the sandbox, as plain text (never HTML), and its
  error's name and message.

For feedback, :class:`GetGradesMarkingPending` marks the cells a person still has to grade, and
:func:`write_feedback_template` makes nbgrader's feedback page say "to be graded by a person"
for them instead of "Score: 0.0 / 2.0", sanitise the HTML of written answers (nbgrader's template
skips nbconvert's sanitiser there) and load MathJax from the feedback folder (offline).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from nbformat import NotebookNode
from nbgrader.preprocessors import GetGrades, NbGraderPreprocessor

VERDICTS_VARIABLE = "COURSE_GRADER_VERDICTS"


def error_output(name: str, message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=name, evalue=message, traceback=[f"{name}: {message}"])


class ApplyVerdicts(NbGraderPreprocessor):
    """Cell outputs from the trusted grader's verdict file, in place of executing the notebook."""

    def preprocess(self, nb, resources):
        # one file per student in the folder the grader names: <student>.json
        path = Path(os.environ[VERDICTS_VARIABLE]) / f"{resources['nbgrader']['student']}.json"
        with open(path) as handle:
            self._verdicts = json.load(handle)
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            verdict = self._verdicts["verdicts"].get(meta.get("grade_id"))
            if verdict is None:
                cell.outputs = [error_output("NotGraded", "the grader has no verdict for this cell")]
            else:
                cell.outputs = [] if verdict["passed"] else [error_output("CheckFailed", verdict["message"])]
            return cell, resources
        produced = self._verdicts["outputs"].get(str(index))
        outputs = []
        if produced and produced.get("stdout"):
            outputs.append(NotebookNode(output_type="stream", name="stdout", text=produced["stdout"]))
        if produced and produced.get("error"):
            outputs.append(error_output(*produced["error"]))
        cell.outputs = outputs
        return cell, resources


class GetGradesMarkingPending(GetGrades):
    """nbgrader's GetGrades, also recording whether a cell still waits for a person."""

    def _get_score(self, cell, resources):
        super()._get_score(cell, resources)
        grade = self.gradebook.find_grade(cell.metadata["nbgrader"]["grade_id"], self.notebook_id,
                                          self.assignment_id, self.student_id)
        cell.metadata.nbgrader["pending"] = bool(grade.needs_manual_grade)


SCORE = ("Score: {{ cell.metadata.nbgrader.score | float | round(2) }} / "
         "{{ cell.metadata.nbgrader.points | float | round(2) }}")
PENDING = ("{% if cell.metadata.nbgrader.pending %}to be graded by a person "
           "({{ cell.metadata.nbgrader.points | float | round(2) }} points){% else %}" + SCORE + "{% endif %}")


# nbgrader's template renders markdown (a student's written answer) as raw HTML; bleach cleans it.
MARKDOWN = "| markdown2html | strip_files_prefix"
# Math offline: MathJax 3 from the feedback folder itself (copied there by copy_mathjax), not a CDN.
MATHJAX_CALL = "{{ mathjax() }}"
LOCAL_MATHJAX = """<script>
window.MathJax = {tex: {inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]], displayMath: [["$$", "$$"], ["\\\\[", "\\\\]"]],
                        processEscapes: true}};
</script>
<script src="mathjax/tex-mml-chtml.js"></script>"""


def copy_mathjax(feedback_dir: Path) -> None:
    """MathJax next to the feedback pages (once), so that they render math without a network."""
    from course_lib.book import mathjax_folder

    target = Path(feedback_dir) / "mathjax"
    if not (target / "tex-mml-chtml.js").is_file():
        shutil.copytree(mathjax_folder(), target, dirs_exist_ok=True)


def write_feedback_template(folder: Path) -> Path:
    """nbgrader's feedback template, patched as the module says; returns the template folder."""
    import nbgrader

    original = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader" / "templates" / "feedback"
    text = (original / "index.html.j2").read_text()
    for old, new, least in ((SCORE, PENDING, 2), (MATHJAX_CALL, LOCAL_MATHJAX, 1), (MARKDOWN, MARKDOWN + " | clean_html", 2)):
        if text.count(old) < least:
            raise RuntimeError(f"nbgrader's feedback template ({original}) has changed: it holds {old!r} fewer than "
                               f"{least} times. Update the patterns in course_lib.grading.verdicts to match it.")
        text = text.replace(old, new)
    target = Path(folder) / "course_feedback"
    target.mkdir(parents=True, exist_ok=True)
    (target / "index.html.j2").write_text(text)
    (target / "conf.json").write_text((original / "conf.json").read_text())
    return target
