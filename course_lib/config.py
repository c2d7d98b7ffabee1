"""The run's settings: which profile, which device, where the data lives, and the seeds.

Every training notebook reads exactly one knob, the environment variable ``COURSE_PROFILE``:

* ``smoke`` -- tiny slices and a few steps, for CI (each notebook well under a minute on 2 cores);
* ``cpu``   -- a student laptop: each notebook within about 10 minutes on 2 cores;
* ``full``  -- the real sizes, on a GPU; reproduces the course's headline numbers.

Without the variable the profile is ``full`` when CUDA is available, else ``cpu``.
A notebook then chooses its sizes with :func:`pick`::

    hidden = pick(smoke=16, cpu=128, full=512)

and its CPU threads with :func:`configure_threads` (fewer when other programs keep the cores busy).
"""

from __future__ import annotations

import math
import os
import random
from pathlib import Path

import numpy as np

PROFILES = ("smoke", "cpu", "full")
PROFILE_VARIABLE = "COURSE_PROFILE"
DATA_DIR_VARIABLE = "COURSE_DATA_DIR"
THREADS_VARIABLE = "COURSE_THREADS"


class ProfileError(ValueError):
    """Raised when ``COURSE_PROFILE`` names no known profile."""


def profile() -> str:
    """The active profile: ``COURSE_PROFILE`` if set, else ``full`` with CUDA, else ``cpu``."""
    name = os.environ.get(PROFILE_VARIABLE, "").strip().lower()
    if not name:
        return "full" if _cuda_available() else "cpu"
    if name not in PROFILES:
        raise ProfileError(
            f"{PROFILE_VARIABLE}={os.environ[PROFILE_VARIABLE]!r} is not a profile; "
            f"use one of {', '.join(PROFILES)} (or unset it to pick cpu/full automatically)."
        )
    return name


def pick(*, smoke, cpu, full):
    """Return the value given for the active profile, e.g. ``pick(smoke=2, cpu=5, full=40)``."""
    return {"smoke": smoke, "cpu": cpu, "full": full}[profile()]


def _cuda_available() -> bool:
    import torch  # imported when asked, so that `course --help` does not wait for torch

    return torch.cuda.is_available()


def device():
    """CUDA when a GPU is visible, else the CPU (a ``torch.device``)."""
    import torch

    return torch.device("cuda" if _cuda_available() else "cpu")


def data_dir() -> Path:
    """Where data sets are read from and downloaded to.

    ``COURSE_DATA_DIR`` when set, else a per-user cache folder (``$XDG_CACHE_HOME/rnn-course/data``,
    by default ``~/.cache/rnn-course/data``). The folder is not created here.
    """
    configured = os.environ.get(DATA_DIR_VARIABLE, "").strip()
    if configured:
        return Path(configured).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME", "").strip() or Path.home() / ".cache"
    return Path(cache_home) / "rnn-course" / "data"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and every GPU) so that a run repeats exactly."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


# -- CPU threads --------------------------------------------------------------------------------------


def physical_cores(cpuinfo: str | Path = "/proc/cpuinfo") -> int:
    """Cores without their hyperthread twins (distinct (physical id, core id) pairs in Linux's
    ``/proc/cpuinfo``); the logical CPU count where that file says nothing."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return os.cpu_count() or 1
    cores, package = set(), "0"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            package = value.strip()
        elif key == "core id":
            cores.add((package, value.strip()))
    return len(cores) or os.cpu_count() or 1


def usable_cpus(cpu_max: str | Path = "/sys/fs/cgroup/cpu.max") -> int:
    """CPUs this process may run on: its affinity mask, capped by a container's CPU quota."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path(cpu_max).read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus


def choose_threads(physical: int, usable: int, load: float) -> int:
    """How many threads to use: the cores that other programs leave idle, at least one.

    ``load`` is the 1-minute load average (runnable processes, ours not yet among them). Torch's
    default -- every physical core -- is right on an idle machine, but when other work keeps cores
    busy, threads that wait for each other at every small matrix product make a run several times
    slower (issue 15 measured sentiment at 2 threads and load 3-6 slower than at 1 thread, 10-fold).
    One thread per idle core degrades in proportion to the load instead.
    """
    idle = usable - load
    return max(1, min(physical, usable, math.floor(idle + 0.5)))


def threads_per_job(jobs: int) -> int:
    """Threads for each of ``jobs`` runs started together now: the idle cores shared out, at least one.

    A run that measures the load itself when it starts would count the runs started before it
    (and, one after another, the run that has just ended) as other programs; sharing the idle cores
    out once, before any of them starts, does not.
    """
    return max(1, choose_threads(physical_cores(), usable_cpus(), _load_average()) // max(1, jobs))


def _load_average() -> float:
    """The 1-minute load average (0 where the platform has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0


def configure_threads(threads: int | None = None, *, verbose: bool = False) -> int:
    """Set torch's CPU threads for this run and return how many.

    Order: the ``threads`` argument; the environment variable ``COURSE_THREADS``; otherwise
    :func:`choose_threads` from the physical cores, the usable CPUs and the current load.
    Call it once, in a notebook's setup cell, before any training.
    """
    import torch

    if threads is None and os.environ.get(THREADS_VARIABLE, "").strip():
        try:
            threads = int(os.environ[THREADS_VARIABLE])
        except ValueError:
            raise ValueError(f"{THREADS_VARIABLE} must be a whole number of threads; got "
                             f"{os.environ[THREADS_VARIABLE]!r}.") from None
    if threads is None:
        threads = choose_threads(physical_cores(), usable_cpus(), _load_average())
    if threads < 1:
        raise ValueError(f"threads must be at least 1; got {threads}.")
    torch.set_num_threads(threads)
    if verbose:
        print(f"torch uses {threads} CPU thread{'s' if threads > 1 else ''}")
    return threads
