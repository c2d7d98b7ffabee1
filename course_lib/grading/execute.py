"""nbgrader's Execute step, made to survive what a submission can do to it.

:class:`GuardedExecute` replaces nbgrader's ``Execute`` preprocessor in the autograder's pipeline
(through nbgrader's own ``Autograde.autograde_preprocessors`` setting). It executes cells the same
way and adds:

* a time limit for the whole notebook on top of nbgrader's per-cell ``timeout``;
* a cap on the bytes of output kept per notebook (a cell printing forever cannot exhaust the
  grader's memory);
* survival of a dying kernel (``os._exit``, a segfault, the memory limit): the cells already run
  keep their results, the cell that killed the kernel and every later code cell get an error
  output saying why they did not run -- so their tests score 0 instead of the batch crashing;
* before every graded test cell, :func:`course_lib.grading.integrity.restore` runs first, undoing
  patches of ``torch.allclose``, ``check_close`` and friends;
* a warning printed by a test cell (stderr) is kept as ordinary output: nbgrader would otherwise
  score the cell 0 although no test failed.

What happened (limits hit, crashes) is appended to the JSON file named by the environment
variable ``COURSE_GRADER_STATUS``, which the grade report turns into a status per student.
"""

from __future__ import annotations

import json
import os
import time

from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Integer

from course_lib.grading.course import STATUS_VARIABLE

RESTORE_LINE = "__import__('course_lib.grading.integrity', fromlist=['restore']).restore(globals())"


def is_graded_test(cell: NotebookNode) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and meta.get("grade", False) and not meta.get("solution", False)


def not_run_output(reason: str) -> NotebookNode:
    """An error output for a cell the grader did not run: nbgrader scores its test 0."""
    return NotebookNode(output_type="error", ename="NotRun", evalue=reason,
                        traceback=[f"NotRun: {reason}"])


class GuardedExecute(Execute):
    """nbgrader's Execute with a notebook time limit, an output cap and crash survival."""

    notebook_timeout = Integer(0, help="seconds for the whole notebook (0: no limit)").tag(config=True)
    max_output_bytes = Integer(2_000_000, help="bytes of output kept per notebook").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._events: list[str] = []
        self._stop_reason = ""
        self._started = time.monotonic()
        self._output_bytes = 0
        self._truncated = False
        self._cell_timeout = self.timeout
        try:
            return super().preprocess(nb, resources, km)
        except DeadKernelError:  # the kernel died outside a cell (start-up or shutdown)
            self._event("kernel crashed")
            return nb, resources
        finally:
            self._write_status()

    # -- cells ------------------------------------------------------------------------------------
    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if not self._stop_reason and self.notebook_timeout:
            remaining = self.notebook_timeout - (time.monotonic() - self._started)
            if remaining <= 0:
                self._stop(f"the notebook ran past its time limit of {self.notebook_timeout} s",
                           "notebook time limit")
            else:
                self.timeout = max(1, int(min(self._cell_timeout or remaining, remaining)))
        if self._stop_reason:
            cell.outputs = [not_run_output(self._stop_reason)]
            return cell, resources

        original_source = cell.source
        if is_graded_test(cell):
            cell.source = RESTORE_LINE + "\n" + original_source
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._stop(f"the kernel died while running cell {index} (a crash, os._exit, or the memory limit)",
                       "kernel crashed")
            cell.outputs = list(cell.get("outputs", [])) + [not_run_output(self._stop_reason)]
        finally:
            cell.source = original_source
        if is_graded_test(cell):
            # nbgrader scores a test cell 0 when it wrote to stderr; a warning from a correct answer
            # (a deprecation, a torch UserWarning) must not cost points, so it is kept as stdout.
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream" and out.get("name") == "stderr":
                    out["name"] = "stdout"
        errors = {out.get("ename") for out in cell.get("outputs", []) if out.get("output_type") == "error"}
        if "CellTimeoutError" in errors:
            self._event("cell time limit")
        if "MemoryError" in errors:
            self._event("memory limit")
        return cell, resources

    # -- outputs ----------------------------------------------------------------------------------
    def output(self, outs, msg, display_id, cell_index):
        size = len(json.dumps(msg.get("content", {}), default=str))
        self._output_bytes += size
        if self._output_bytes > self.max_output_bytes:
            if not self._truncated:
                self._truncated = True
                self._event("output cap")
                outs.append(NotebookNode(output_type="stream", name="stderr",
                                         text=f"[grader] output truncated: more than {self.max_output_bytes} bytes\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)

    # -- status -----------------------------------------------------------------------------------
    def _stop(self, reason: str, event: str) -> None:
        self._stop_reason = reason
        self._event(event)

    def _event(self, event: str) -> None:
        if event not in self._events:
            self._events.append(event)

    def _write_status(self) -> None:
        path = os.environ.get(STATUS_VARIABLE)
        if path:
            with open(path, "w") as handle:
                json.dump({"events": self._events}, handle)
