"""The nbgrader configuration of a grading run's template course: which steps replace nbgrader's.

Two autograde pipelines, both nbgrader's default with its ``Execute`` step replaced:

* **trusted** (chapters whose checks live in ``course_lib/checks``): :class:`ApplyVerdicts` writes
  the outputs the trusted grader decided; no kernel is started by nbgrader;
* **legacy kernel** (chapters not converted yet, ``course grade --legacy-kernel``):
  :class:`~course_lib.grading.execute.GuardedExecute` runs the notebook in a kernel with limits
  and reads pass or fail from it -- forgeable, see issue 13.

Feedback: nbgrader's pipeline with hidden test regions removed (legacy cells), grades marked
pending where a person has to grade, HTML sanitised (nbconvert's ``sanitize_html``, bleach), and
the template saying "to be graded by a person" (:mod:`course_lib.grading.verdicts`).
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

KERNEL_NAME = "rnn-course-grader"


def feedback_config(template_dir: Path) -> str:
    return textwrap.dedent(f"""
        from nbgrader.converters.generate_feedback import GenerateFeedback
        from nbgrader.preprocessors import GetGrades
        from course_lib.grading.feedback import HideHiddenTests
        from course_lib.grading.verdicts import GetGradesMarkingPending

        c.GenerateFeedback.preprocessors = [HideHiddenTests] + [
            GetGradesMarkingPending if step is GetGrades else step
            for step in GenerateFeedback.class_traits()["preprocessors"].default()]
        c.HTMLExporter.sanitize_html = True
        c.HTMLExporter.template_name = "course_feedback"
        c.HTMLExporter.extra_template_basedirs = [{str(template_dir)!r}]
    """)


def trusted_config() -> str:
    return textwrap.dedent("""
        from nbgrader.converters.autograde import Autograde
        from nbgrader.preprocessors import Execute
        from course_lib.grading.verdicts import ApplyVerdicts

        c.Autograde.autograde_preprocessors = [
            ApplyVerdicts if step is Execute else step
            for step in Autograde.class_traits()["autograde_preprocessors"].default()]
    """)


def legacy_config(cell_timeout: int, notebook_timeout: int, max_output_bytes: int, ipc: bool) -> str:
    # Unix sockets reach a kernel in its own network namespace; an absolute path, because the kernel's
    # working directory (the notebook's folder) is not nbgrader's (the course folder).
    transport = ("import os\nc.KernelManager.transport = 'ipc'\n"
                 "c.KernelManager.ip = os.path.join(os.getcwd(), 'kernel')\n") if ipc else ""
    return textwrap.dedent(f"""
        from nbgrader.converters.autograde import Autograde
        from nbgrader.preprocessors import Execute
        from course_lib.grading.execute import GuardedExecute

        c.Autograde.autograde_preprocessors = [
            GuardedExecute if step is Execute else step
            for step in Autograde.class_traits()["autograde_preprocessors"].default()]
        c.GuardedExecute.kernel_name = {KERNEL_NAME!r}
        c.GuardedExecute.timeout = {int(cell_timeout) or None}
        c.GuardedExecute.notebook_timeout = {int(notebook_timeout)}
        c.GuardedExecute.max_output_bytes = {int(max_output_bytes)}
        c.GuardedExecute.startup_timeout = 120
    """) + transport


def write_legacy_kernelspec(folder: Path, memory_mb: int, file_mb: int, isolate: bool) -> None:
    argv = [sys.executable, "-m", "course_lib.grading.sandbox", "--memory-mb", str(memory_mb),
            "--file-mb", str(file_mb)] + (["--no-network"] if isolate else []) + ["-f", "{connection_file}"]
    spec = folder / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps(
        {"argv": argv, "display_name": "RNN course grader", "language": "python"}, indent=1))
