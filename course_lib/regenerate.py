"""``course regenerate``: run the instructor notebooks at a profile's size and collect their figures.

For each chapter the solution notebook ``solutions/<ch>/<ch>.ipynb`` is executed top to bottom
as nbval executes it (a kernel of this environment, in the notebook's folder, no time limit per
cell under ``cpu`` and ``full``), with ``COURSE_PROFILE`` set and matplotlib's inline backend,
so the executed notebook keeps its figures whatever ``MPLBACKEND`` says. Written to ``--output``:

* ``<ch>/<ch>.ipynb``   the executed notebook with its outputs (also when a cell failed);
* ``<ch>/figures.jsonl`` the figures the notebook reported (:mod:`course_lib.results`);
* ``results.json``      per chapter: device, profile, wall time, status and every figure with its
  target and whether it was met. Chapters regenerated earlier into the same folder are kept.

Each chapter runs in a process of its own (``--jobs`` at a time: on a GPU the chapters share the
card well, as most of their kernels are small), so one chapter's crash never stops the others.
With ``--scheduler ADDRESS`` each chapter runs on a worker of that Dask cluster instead (one
chapter per worker thread: start GPU workers with ``--nthreads 1``), which needs the course
folder at the same path; the chapter's files come back as data and are written here.
Torch's CPU threads: unless ``COURSE_THREADS`` is set, the cores that other programs leave idle
are shared out among the chapters that run at once (:func:`course_lib.config.threads_per_job`),
once, before the first chapter starts.
The command prints a table and exits 1 when a chapter failed or missed a target.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from course_lib import config
from course_lib.course_root import add_course_option, course_folder
from course_lib.results import TargetMissed, format_value, read_results_file, run_description

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
#: Inline figures in the executed notebooks, whatever MPLBACKEND the caller has (CI sets Agg).
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
#: Per-cell time limit in seconds: smoke runs must stay quick; training cells may run for long.
CELL_TIMEOUT = {"smoke": 900, "cpu": None, "full": None}
STOP_GRACE_SECONDS = 15  # a stopped chapter's time to save its notebook before it is killed
STOPPED_EXIT_CODE = 143  # 128 + SIGTERM, as a shell reports it
STATUS_OK, STATUS_MISSED, STATUS_FAILED = "ok", "missed target", "failed"


def default_output(root: Path, profile: str) -> Path:
    """``results/<profile>`` in the course folder: what the book's results tables are made from."""
    return root / "results" / profile


# -------------------------------------------------------------------------------- one chapter

def execute_chapter(root: Path, chapter: str, profile: str, output: Path) -> dict:
    """Execute one chapter's solution notebook in this process; return its entry of results.json.

    The caller must have set ``COURSE_PROFILE`` and ``COURSE_RESULTS_FILE`` in the environment
    (the kernel inherits it): :func:`run_chapter` does, in a fresh process.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    from course_lib.grading.course import solution_notebook

    source = solution_notebook(root / "solutions", chapter)
    target_dir = output / chapter
    target_dir.mkdir(parents=True, exist_ok=True)
    notebook = nbformat.read(source, as_version=4)
    executed = target_dir / f"{chapter}.ipynb"

    def keep_so_far(**_) -> None:  # a chapter stopped by its time limit keeps the cells it finished
        partial = executed.with_suffix(".partial")
        nbformat.write(notebook, partial)
        partial.replace(executed)

    def keep_and_exit(*_) -> None:  # stopped by the time limit: the running cell keeps what it printed so far
        keep_so_far()
        os._exit(STOPPED_EXIT_CODE)

    signal.signal(signal.SIGTERM, keep_and_exit)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT[profile], kernel_name="python3",
                            resources={"metadata": {"path": str(source.parent)}}, on_cell_executed=keep_so_far)
    started = time.perf_counter()
    status, error = STATUS_OK, None
    try:
        client.execute()
    except (CellExecutionError, DeadKernelError, TimeoutError, RuntimeError) as failure:
        missed = getattr(failure, "ename", None) == TargetMissed.__name__  # check_targets() said so
        status, error = (STATUS_MISSED if missed else STATUS_FAILED), _last_lines(str(failure))
    finally:
        seconds = time.perf_counter() - started
        nbformat.write(notebook, executed)
    run, figures = read_results_file(target_dir / "figures.jsonl")
    if status == STATUS_OK and any(figure["met"] is False for figure in figures):
        status = STATUS_MISSED
    return {"chapter": chapter, **(run or run_description()), "profile": profile,
            "wall_seconds": round(seconds, 1), "status": status, "error": error, "figures": figures,
            "finished": time.strftime("%Y-%m-%d %H:%M:%S")}


def _last_lines(text: str, lines: int = 25) -> str:
    # nbclient's message holds the whole cell and a coloured traceback; its end says what went wrong.
    return "\n".join(ANSI_ESCAPE.sub("", text).strip().splitlines()[-lines:])


def run_chapter(root: Path, chapter: str, profile: str, output: Path, timeout: float | None = None,
                threads: int | None = None) -> dict:
    """Regenerate one chapter in a fresh process and return its entry (a failed entry if it died).

    timeout: seconds for the whole chapter; past it the chapter is stopped and marked failed,
    keeping the figures it had reported. threads: torch's CPU threads in that process
    (``COURSE_THREADS``); None leaves the notebook to choose from the load it sees.
    """
    target_dir = output / chapter
    target_dir.mkdir(parents=True, exist_ok=True)
    figures_file = target_dir / "figures.jsonl"
    figures_file.unlink(missing_ok=True)  # figures of an earlier run must not mix with this one
    entry_file = target_dir / "result.json"
    entry_file.unlink(missing_ok=True)
    env = dict(os.environ, COURSE_PROFILE=profile, COURSE_RESULTS_FILE=str(figures_file),
               MPLBACKEND=INLINE_BACKEND, PYTHONUNBUFFERED="1")
    if threads is not None:
        env[config.THREADS_VARIABLE] = str(threads)
    started = time.perf_counter()
    with open(target_dir / "regenerate.log", "w", encoding="utf-8") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "course_lib.regenerate", "--worker", chapter, "--profile", profile,
             "--output", str(output), "--course", str(root)],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            returncode = worker.wait(timeout=timeout)
            problem = f"the regenerating process exited with code {returncode}"
        except subprocess.TimeoutExpired:
            _stop_tree(worker)
            returncode, problem = None, f"stopped after the time limit of {timeout:g} s"
    (target_dir / f"{chapter}.partial").unlink(missing_ok=True)  # a save the time limit cut short
    if returncode == 0 and entry_file.exists():
        return json.loads(entry_file.read_text(encoding="utf-8"))
    run, figures = read_results_file(figures_file)
    return {"chapter": chapter, **(run or {}), "profile": profile,
            "wall_seconds": round(time.perf_counter() - started, 1), "status": STATUS_FAILED,
            "error": f"{problem}; see {target_dir / 'regenerate.log'}", "figures": figures,
            "finished": time.strftime("%Y-%m-%d %H:%M:%S")}


def _stop_tree(worker: subprocess.Popen) -> None:
    """Stop a worker past its time limit: ask it to save the notebook (SIGTERM), then kill it and its kernel."""
    import psutil

    # The kernel runs in a session of its own (jupyter_client starts it so): find it by ancestry, before
    # the worker exits and the kernel is left without a parent.
    try:
        processes = psutil.Process(worker.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        processes = []
    worker.terminate()
    try:
        worker.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        pass
    worker.kill()  # a no-op when it has already exited
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    worker.wait()


def run_chapter_elsewhere(root: Path, chapter: str, profile: str, timeout: float | None) -> tuple[dict, dict]:
    """:func:`run_chapter` into a scratch folder of the machine it runs on (a cluster's worker);
    returns its entry and its files (``{relative path: bytes}``) for the caller to write."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix=f"regenerate-{chapter}-") as scratch:
        entry = run_chapter(Path(root), chapter, profile, Path(scratch), timeout)
        folder = Path(scratch) / chapter
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        if isinstance(entry.get("error"), str):
            entry["error"] = entry["error"].replace(str(folder), f"<output>/{chapter}")
    return entry, files


def _chapter_on_cluster(client, root: Path, chapter: str, profile: str, output: Path, timeout: float | None):
    """A future of the chapter's entry: run on a worker, its files written under ``output/chapter``."""
    from concurrent.futures import Future

    remote = client.submit(run_chapter_elsewhere, str(root), chapter, profile, timeout, pure=False)
    local: Future = Future()

    def write(done) -> None:
        try:
            entry, files = done.result()
            for name, data in files.items():
                if Path(name).is_absolute() or ".." in Path(name).parts:
                    continue  # only files inside the chapter's folder
                target = output / chapter / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            local.set_result(entry)
        except Exception as error:  # the worker died too often, or the task failed
            local.set_result({"chapter": chapter, "profile": profile, "wall_seconds": 0.0, "status": STATUS_FAILED,
                              "error": f"the cluster could not run it: {type(error).__name__}: {str(error)[:300]}",
                              "figures": [], "finished": time.strftime("%Y-%m-%d %H:%M:%S")})

    remote.add_done_callback(write)
    return local


# -------------------------------------------------------------------------------- many chapters

def regenerate(root: Path, chapters: list[str], profile: str, output: Path, jobs: int = 1,
               timeout: float | None = None, progress: bool = True, scheduler: str | None = None) -> dict:
    """Regenerate ``chapters`` (``jobs`` at a time, or on the Dask cluster at ``scheduler``), merge them
    into ``output/results.json``, return it."""
    from tqdm.auto import tqdm

    output.mkdir(parents=True, exist_ok=True)
    results_path = output / "results.json"
    results = json.loads(results_path.read_text(encoding="utf-8")) if results_path.exists() else {}
    results.setdefault("chapters", {})
    client = None
    if scheduler:
        from course_lib.grading.cluster import connect

        client = connect(scheduler)
    # The idle cores are shared out once, before the first chapter starts: a chapter that read the
    # load itself would count the chapter that just ended (or runs beside it) as another program.
    threads = None if client or os.environ.get(config.THREADS_VARIABLE, "").strip() else \
        config.threads_per_job(min(max(1, jobs), len(chapters)))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {(_chapter_on_cluster(client, root, chapter, profile, output, timeout) if client else
                    pool.submit(run_chapter, root, chapter, profile, output, timeout, threads)): chapter
                   for chapter in chapters}
        bar = tqdm(total=len(futures), desc=f"regenerate ({profile})", unit="chapter", disable=not progress)
        for future in as_completed(futures):
            entry = future.result()
            results["chapters"][entry["chapter"]] = entry
            _write_json(results_path, results)  # a chapter that finished is never lost
            bar.write(f"{entry['chapter']}: {entry['status']} in {entry['wall_seconds']:.0f} s")
            bar.update()
        bar.close()
    if client is not None:
        client.close()
    results["chapters"] = dict(sorted(results["chapters"].items()))
    _write_json(results_path, results)
    return results


def _write_json(path: Path, data: dict) -> None:
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    temporary.replace(path)


def table(results: dict, chapters: list[str] | None = None) -> str:
    """The results as a plain-text table: one line per figure, a header line per chapter."""
    lines = []
    for chapter, entry in results.get("chapters", {}).items():
        if chapters is not None and chapter not in chapters:
            continue
        device = f"{entry.get('device', '?')}, {entry.get('threads', '?')} threads"
        lines.append(f"{chapter}  [{entry['status']}]  {entry['profile']} on {device}, "
                     f"{entry['wall_seconds']:.0f} s")
        for figure in entry["figures"]:
            verdict = "" if figure["met"] is None else ("met" if figure["met"] else "MISSED")
            lines.append(f"    {figure['name']:<64s} {format_value(figure['value']):>10s}  "
                         f"{figure['target'] or '':<11s} {verdict}")
        if entry.get("error"):
            lines += ["    " + line for line in entry["error"].splitlines()[-6:]]
    return "\n".join(lines)


def failed(results: dict, chapters: list[str]) -> list[str]:
    """The chapters among ``chapters`` that failed or missed a target."""
    return [chapter for chapter in chapters if results["chapters"][chapter]["status"] != STATUS_OK]


# -------------------------------------------------------------------------------- the book's tables

#: The order of the profiles in a chapter's results table.
TABLE_PROFILES = ("full", "cpu")
VERDICT = {True: "met", False: "**missed**", None: ""}


def chapter_table(chapter: str, entries: dict[str, dict]) -> str:
    """A chapter's results as Markdown: one table per profile that was regenerated.

    entries: profile -> that profile's entry of results.json for this chapter.
    """
    parts = []
    for profile in TABLE_PROFILES:
        entry = entries.get(profile)
        if entry is None:
            parts.append(f"**`{profile}` profile:** not regenerated yet "
                         f"(`course regenerate {chapter} --profile {profile}`).\n")
            continue
        device = entry.get("device", "?")
        if device == "CPU":
            device = f"CPU, {entry.get('threads', '?')} of {entry.get('cpu_count', '?')} cores"
        minutes = entry["wall_seconds"] / 60
        if entry["status"] == STATUS_FAILED:  # say where it stopped: its figures are those it reached
            reason = (entry.get("error") or "").split(";")[0].splitlines()[-1:] or [""]
            run = f"**failed** after {minutes:.1f} minutes ({reason[0]}), the figures it reached"
        else:
            run = f"{minutes:.1f} minutes for the whole notebook" + (
                "" if entry["status"] == STATUS_OK else f" (**{entry['status']}**)")
        parts.append(f"**`{profile}` profile** on {device}, torch {entry.get('torch', '?')}, {run}, "
                     f"{entry.get('finished', '?')[:10]}:\n")
        parts.append("| figure | value | target |\n|---|---:|---|")
        for figure in entry["figures"]:
            unit = f" {figure['unit']}" if figure.get("unit") else ""
            target = f"{figure['target']} {VERDICT[figure['met']]}" if figure["target"] else ""
            parts.append(f"| {figure['name']} | {format_value(figure['value'])}{unit} | {target} |")
        parts.append("")
    return "\n".join(parts)


def write_book_tables(root: Path) -> list[Path]:
    """``book/results/<chapter>.md`` from ``results/<profile>/results.json``: what the pages include."""
    by_chapter: dict[str, dict[str, dict]] = {}
    for profile in TABLE_PROFILES:
        path = default_output(root, profile) / "results.json"
        if path.exists():
            for chapter, entry in json.loads(path.read_text(encoding="utf-8"))["chapters"].items():
                by_chapter.setdefault(chapter, {})[profile] = entry
    from course_lib.grading.course import chapters as known_chapters

    written = []
    folder = root / "book" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    for chapter in known_chapters(root / "solutions"):
        path = folder / f"{chapter}.md"
        header = (f"<!-- Written by `course regenerate` from results/<profile>/results.json: "
                  f"do not edit by hand. -->\n\n")
        path.write_text(header + chapter_table(chapter, by_chapter.get(chapter, {})), encoding="utf-8")
        written.append(path)
    return written


# -------------------------------------------------------------------------------- the command

def run_command(args: argparse.Namespace) -> int:
    from course_lib.grading.course import chapters as known_chapters

    root = course_folder(args.course)
    profile = args.profile or config.profile()
    if profile not in config.PROFILES:
        print(f"course regenerate: unknown profile {profile!r}; use one of {', '.join(config.PROFILES)}.",
              file=sys.stderr)
        return 2
    available = known_chapters(root / "solutions")
    unknown = [chapter for chapter in args.chapters if chapter not in available]
    if unknown:
        print(f"course regenerate: no chapter {', '.join(unknown)}; the chapters are: {', '.join(available)}.",
              file=sys.stderr)
        return 2
    chapters = args.chapters or available
    output = Path(args.output).resolve() if args.output else default_output(root, profile)
    if args.worker:
        entry = execute_chapter(root, args.worker, profile, output)
        _write_json(output / args.worker / "result.json", entry)
        return 0
    try:
        results = regenerate(root, chapters, profile, output, jobs=args.jobs, timeout=args.timeout,
                             progress=not args.quiet, scheduler=args.scheduler)
    except RuntimeError as error:  # no cluster at that address
        print(f"course regenerate: {error}", file=sys.stderr)
        return 2
    print(table(results, chapters))
    print(f"\nresults: {output / 'results.json'}; executed notebooks: {output}/<chapter>/<chapter>.ipynb")
    if output == default_output(root, profile) and profile in TABLE_PROFILES:
        write_book_tables(root)
        print(f"the chapters' results tables: {root / 'book' / 'results'}/<chapter>.md")
    bad = failed(results, chapters)
    if bad:
        print(f"course regenerate: {len(bad)} chapter(s) failed or missed a target: {', '.join(bad)}",
              file=sys.stderr)
        return 1
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "regenerate", help="run the instructor notebooks at a profile's size and collect their figures",
        description="Execute the instructor notebooks (as nbval does), keep them with their outputs and "
        "write results.json with each chapter's device, wall time and headline figures against their "
        "targets. Exits 1 when a chapter fails or misses a target.")
    parser.add_argument("chapters", nargs="*", metavar="CHAPTER", help="chapters to run (default: all)")
    parser.add_argument("--profile", choices=config.PROFILES,
                        help="smoke, cpu or full (default: the active profile: full with a GPU, else cpu)")
    parser.add_argument("--output", metavar="DIR", help="where to write (default: results/<profile>)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="chapters run at the same time (default 1; on a GPU, all of them)")
    parser.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="stop a chapter that runs longer than this and mark it failed (default: none)")
    add_course_option(parser)
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run each chapter on a worker of this Dask cluster (e.g. tcp://10.0.0.5:8786); the "
                        "workers need the course folder at the same path")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--worker", metavar="CHAPTER", help=argparse.SUPPRESS)  # one chapter, in-process
    parser.set_defaults(func=run_command)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.regenerate")
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["regenerate", *(argv if argv is not None else sys.argv[1:])])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
