"""Headline figures: what a chapter's notebook reports, checked against its targets.

A solution notebook states the figures it exists to reproduce with one call each::

    report("LSTM test accuracy", accuracy, at_least=pick(smoke=None, cpu=0.85, full=0.89))
    report("valid perplexity, no dropout", ppl, at_most=pick(smoke=None, cpu=200, full=120.7))

and ends with ``check_targets()``, which fails the notebook (and so nbval and
``course regenerate``) when any target of the active profile was missed. Figures are reported
first and checked at the end so that one missed target does not hide the figures after it.

``report`` prints one line and, when ``course regenerate`` runs the notebook, appends the figure
to the JSON-lines file named by ``COURSE_RESULTS_FILE`` (one object per line: name, value,
target, met, unit). The first line of that file describes the run: profile, device, threads.
The file is appended to as figures come, so a notebook that dies half-way keeps what it reached.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from course_lib import config

RESULTS_FILE_VARIABLE = "COURSE_RESULTS_FILE"


class TargetMissed(AssertionError):
    """Raised by :func:`check_targets` when a reported figure missed its target."""


@dataclass(frozen=True)
class Figure:
    """One reported figure and its target under the active profile (``None``: no target)."""

    name: str
    value: float
    at_least: float | None = None
    at_most: float | None = None
    below: float | None = None
    equals: float | None = None
    unit: str = ""

    @property
    def target(self) -> str | None:
        """The target as text, e.g. ``">= 0.89"``; None without one."""
        for symbol, bound in (("==", self.equals), (">=", self.at_least), ("<=", self.at_most),
                              ("<", self.below)):
            if bound is not None:
                return f"{symbol} {format_value(bound)}"
        return None

    @property
    def met(self) -> bool | None:
        """Whether the value meets the target (None without one); NaN never meets one."""
        if self.target is None:
            return None
        if not math.isfinite(self.value):
            return False
        return ((self.equals is None or self.value == self.equals)
                and (self.at_least is None or self.value >= self.at_least)
                and (self.at_most is None or self.value <= self.at_most)
                and (self.below is None or self.value < self.below))

    def line(self) -> str:
        text = f"{self.name}: {format_value(self.value)}{' ' + self.unit if self.unit else ''}"
        if self.target is not None:
            text += f"  (target {self.target}: {'met' if self.met else 'MISSED'})"
        return text


#: The figures reported in this process (the notebook's kernel), in order.
_reported: list[Figure] = []


def format_value(value: float) -> str:
    """Counts (ints, and whole floats from 1,000 on) with commas; four decimals below 10, one above."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    if float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"


def run_description() -> dict:
    """The profile, the device (a GPU's name or the CPU and its threads) and torch's version."""
    import torch

    on_gpu = torch.cuda.is_available()
    return {
        "profile": config.profile(),
        "device": torch.cuda.get_device_name(0) if on_gpu else "CPU",
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
    }


def report(name: str, value, *, at_least: float | None = None, at_most: float | None = None,
           below: float | None = None, equals: float | None = None, unit: str = "") -> None:
    """Record a headline figure; ``at_least``, ``at_most``, ``below`` or ``equals`` gives its target.

    A target of None (e.g. ``pick(smoke=None, cpu=0.85, full=0.89)`` under smoke) means none.

    value: a number (a Python or NumPy scalar, or a one-element tensor).
    Prints the figure and whether it met its target; :func:`check_targets` fails later if not.
    Returns nothing, so that a notebook cell ending with it shows only the printed line.
    """
    if sum(bound is not None for bound in (at_least, at_most, below, equals)) > 1:
        raise ValueError(f"report({name!r}): give at most one of at_least, at_most, below and equals.")
    try:
        if isinstance(value, (str, bytes)):  # a formatted number ("0.9012") has lost its precision
            raise TypeError
        number = _as_number(value)
    except (TypeError, ValueError, RuntimeError):  # RuntimeError: a tensor of several elements
        raise TypeError(f"report({name!r}) needs a number, got {type(value).__name__}: {value!r}") from None
    figure = Figure(name, number, at_least, at_most, below, equals, unit)
    _reported.append(figure)
    _append_to_results_file(figure)
    print(figure.line())


def _as_number(value) -> int | float:
    """A count (an int, a NumPy integer, an integer tensor) stays whole, to print "45", not "45.0000"."""
    if hasattr(value, "item"):  # a NumPy scalar or a one-element tensor: its Python int or float
        value = value.item()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return float(value)


def _append_to_results_file(figure: Figure) -> None:
    path = os.environ.get(RESULTS_FILE_VARIABLE, "").strip()
    if not path:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    if not path.exists() or path.stat().st_size == 0:
        lines.append({"run": run_description()})
    lines.append({"figure": {**asdict(figure), "target": figure.target, "met": figure.met,
                             "time": time.strftime("%H:%M:%S")}})
    with path.open("a", encoding="utf-8") as stream:
        for line in lines:
            stream.write(json.dumps(line) + "\n")


def reported() -> list[Figure]:
    """The figures reported so far in this process."""
    return list(_reported)


def check_targets() -> None:
    """Fail if any figure reported so far missed its target; print a summary line otherwise."""
    missed = [figure for figure in _reported if figure.met is False]
    with_target = [figure for figure in _reported if figure.met is not None]
    if missed:
        raise TargetMissed(
            f"{len(missed)} of {len(with_target)} targets of the {config.profile()!r} profile missed:\n"
            + "\n".join("  " + figure.line() for figure in missed)
        )
    print(f"all {len(with_target)} targets of the {config.profile()!r} profile met "
          f"({len(_reported)} figures reported)")


def read_results_file(path: Path) -> tuple[dict, list[dict]]:
    """``(run description, figures)`` from a file written by :func:`report`; ``({}, [])`` if absent.

    A line that is not JSON (a run killed mid-write) is skipped.
    """
    run, figures = {}, []
    if not Path(path).exists():
        return run, figures
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "run" in entry:
            run = entry["run"]
        elif "figure" in entry:
            figures.append(entry["figure"])
    return run, figures
