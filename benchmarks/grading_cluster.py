"""Time to grade a class locally (--jobs 2) and through a two-worker Dask cluster on this machine.

Starts `dask scheduler` and two `dask worker --nthreads 1` processes on 127.0.0.1, grades the same
class of N params submissions (half solutions, half untouched notebooks) both ways, checks that
the grades.csv files are identical, and prints (and writes as JSON) the wall times with the load
average. On one 2-core machine the cluster cannot be faster than local grading: the figure says
what the cluster path costs (shipping jobs and results), not what many machines gain.

Run: python benchmarks/grading_cluster.py --students 100 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grading_speed import REPO, class_of, git_commit  # noqa: E402


def start_cluster(logs: Path) -> tuple[str, list[subprocess.Popen]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    processes = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                   "--dashboard-address", ":0", "--no-show"], env=env, start_new_session=True,
                                  stdout=open(logs / "scheduler.log", "w"), stderr=subprocess.STDOUT)]
    for name in ("a", "b"):
        processes.append(subprocess.Popen([sys.executable, "-m", "dask", "worker", address, "--nthreads", "1",
                                           "--name", name, "--dashboard-address", ":0",
                                           "--local-directory", str(logs / name)], env=env, start_new_session=True,
                                          stdout=open(logs / f"{name}.log", "w"), stderr=subprocess.STDOUT))
    from distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(2, timeout=180)
    return address, processes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    from course_lib.grading.grade import Limits, grade_class

    load_before = os.getloadavg()
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        submitted = class_of("params", args.students, Path(tmp) / "submitted")
        started = time.perf_counter()
        grade_class("params", submitted, Path(tmp) / "local", jobs=2, limits=Limits(cell_timeout=120))
        times["local_jobs_2"] = time.perf_counter() - started
        address, processes = start_cluster(Path(tmp))
        try:
            started = time.perf_counter()
            grade_class("params", submitted, Path(tmp) / "dask", limits=Limits(cell_timeout=120), scheduler=address)
            times["dask_two_workers"] = time.perf_counter() - started
        finally:
            for process in processes:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        same = (Path(tmp) / "local" / "grades.csv").read_bytes() == (Path(tmp) / "dask" / "grades.csv").read_bytes()
    report = {"students": args.students, "cpus": os.cpu_count(), "commit": git_commit(),
              "load_before": load_before, "load_after": os.getloadavg(),
              "seconds": {k: round(v, 1) for k, v in times.items()},
              "seconds_per_submission": {k: round(v / args.students, 2) for k, v in times.items()},
              "identical_grades_csv": same}
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
