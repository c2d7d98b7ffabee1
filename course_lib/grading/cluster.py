"""Where each submission's sandboxed run happens: local threads, or the workers of a Dask cluster.

``course grade`` hands every submission's per-submission work, :func:`course_lib.grading.grade.prepare_one`
(load the notebook, run it in a bubblewrap sandbox, decide each test cell's verdict), to a
:class:`SubmissionRunner`:

* without ``--scheduler``: ``--jobs`` threads of this process, each driving one sandbox;
* with ``--scheduler ADDRESS``: a `dask.distributed <https://distributed.dask.org>`_ cluster. The
  grader reads each file itself and sends its bytes with the job (a worker need not see the
  submissions folder); the worker runs the same ``prepare_one``, sandbox included (each worker
  needs bubblewrap and this course's environment), and sends back plain data. nbgrader's part
  (gradebook, feedback) stays on this machine. A worker that dies mid-submission costs a retry:
  the scheduler runs the submission again on another worker (``distributed.scheduler.allowed-failures``,
  3 by default); a submission that kills that many workers gets a row saying so, and the batch goes on.

Workers come from anywhere Dask starts them: ``dask scheduler`` and ``dask worker ADDRESS`` by
hand, ``dask-jobqueue`` on a university's SLURM cluster, ``dask-kubernetes`` on a JupyterHub's
Kubernetes. The results are the same as local grading: the same code decides every verdict.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Iterator


class SubmissionRunner:
    """Runs ``prepare_one(job)`` somewhere and turns every outcome, a lost worker included, into a row."""

    def __init__(self, executor, remote: bool):
        self.executor, self.remote = executor, remote

    def submit(self, job) -> Future:
        from course_lib.grading.grade import prepare_one
        from course_lib.grading.submissions import read_limited

        if self.remote and job.path is not None:
            content = read_limited(job.path)
            if isinstance(content, bytes):  # else the worker reports the problem when it reads the file
                job = replace(job, content=content)
        return self.executor.submit(prepare_one, job)

    def result(self, future: Future, job):
        """The future's :class:`Prepared`; a failure of the machinery (not of the submission) becomes
        the row's status."""
        from course_lib.grading.grade import Prepared, StudentGrade

        try:
            return future.result()
        except Exception as error:
            name = type(error).__name__
            why = ("the cluster lost the worker running it too often (KilledWorker): look at the workers' logs"
                   if name == "KilledWorker" else f"{name}: {str(error)[:200]}")
            events = [job.note] if job.note else []
            return Prepared(StudentGrade(job.student, {g: 0.0 for g in job.cells}, entry=job.entry),
                            events=events + [f"grading failed: {why}"])


@contextlib.contextmanager
def submission_runner(jobs: int, scheduler: str | None = None, timeout: float = 30,
                      require_sandbox: bool = True) -> Iterator[SubmissionRunner]:
    """``jobs`` local threads, or the Dask cluster whose scheduler listens at ``scheduler`` (whose
    workers must all be able to build the sandbox, unless ``require_sandbox`` is False)."""
    if not scheduler:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            yield SubmissionRunner(pool, remote=False)
        return
    client = connect(scheduler, timeout)
    try:
        if require_sandbox:
            from course_lib.grading.isolation import probe

            problems = {worker: problem for worker, problem in client.run(probe).items() if problem}
            if problems:
                worker, problem = next(iter(problems.items()))
                raise ClusterUnavailable(f"{len(problems)} worker(s) cannot build the sandbox, e.g. {worker}: "
                                         f"{problem}. Install bubblewrap there (`apt-get install bubblewrap`).")
        # pure=False: two identical notebooks are two submissions, each graded (and each its own row)
        yield SubmissionRunner(client.get_executor(pure=False), remote=True)
    finally:
        client.close()


class ClusterUnavailable(RuntimeError):
    """No Dask scheduler could be reached, or dask is not installed; the message says what to do."""


def connect(scheduler: str, timeout: float = 30):
    """A ``distributed.Client`` of the scheduler at ``scheduler`` (e.g. ``tcp://127.0.0.1:8786``)."""
    try:
        from distributed import Client
    except ImportError:
        raise ClusterUnavailable("`--scheduler` needs dask.distributed: `pip install 'dask[distributed]'` "
                                 "(it is in requirements.txt)") from None
    try:
        return Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError) as error:
        raise ClusterUnavailable(f"no Dask scheduler answered at {scheduler} within {timeout:.0f} s ({error}). "
                                 "Start one with `dask scheduler` and workers with `dask worker ADDRESS`, or "
                                 "leave out --scheduler to grade on this machine.") from None
