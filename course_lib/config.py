"""The run's settings: which profile, which device, where the data lives, and the seeds.

Every training notebook reads exactly one knob, the environment variable ``COURSE_PROFILE``:

* ``smoke`` -- tiny slices and a few steps, for CI (each notebook well under a minute on 2 cores);
* ``cpu``   -- a student laptop: each notebook within about 10 minutes on 2 cores;
* ``full``  -- the real sizes, on a GPU; reproduces the course's headline numbers.

Without the variable the profile is ``full`` when CUDA is available, else ``cpu``.
A notebook then chooses its sizes with :func:`pick`::

    hidden = pick(smoke=16, cpu=128, full=512)
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np

PROFILES = ("smoke", "cpu", "full")
PROFILE_VARIABLE = "COURSE_PROFILE"
DATA_DIR_VARIABLE = "COURSE_DATA_DIR"


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
