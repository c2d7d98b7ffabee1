"""The record of a training run: per-step and per-epoch numbers, savable as JSON.

A :class:`History` is two tables of columns (name -> list of floats)::

    history.steps["loss"]            # one value per optimizer step
    history.steps["grad_norm"]       # global gradient norm BEFORE clipping
    history.steps["clipped_grad_norm"]  # ... and after (equal to grad_norm without clipping)

    history.epochs["epoch"]          # 1, 2, 3, ...
    history.epochs["train_loss"]     # mean of the epoch's batch losses
    history.epochs["valid_loss"]     # present when fit() had valid batches
    history.epochs["valid_accuracy"] # one column per metric and split
    history.epochs["lr"], history.epochs["seconds"]  # learning rate used, wall time of the epoch

Columns are plain lists so that a notebook can plot them directly, and
:mod:`course_lib.viz` draws them with ``plot_curves(history)``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class History:
    steps: dict[str, list[float]] = field(default_factory=dict)
    epochs: dict[str, list[float]] = field(default_factory=dict)

    def log_step(self, **values: float) -> None:
        """Append one optimizer step, e.g. ``log_step(loss=2.3, grad_norm=7.1)``."""
        for name, value in values.items():
            self.steps.setdefault(name, []).append(float(value))

    def log_epoch(self, **values: float) -> None:
        """Append one epoch, e.g. ``log_epoch(epoch=1, train_loss=0.6, valid_accuracy=0.81)``."""
        for name, value in values.items():
            self.epochs.setdefault(name, []).append(float(value))

    @property
    def num_steps(self) -> int:
        return len(self.steps.get("loss", []))

    @property
    def num_epochs(self) -> int:
        return len(self.epochs.get("epoch", []))

    def last(self, name: str) -> float:
        """The latest value of an epoch column, e.g. ``history.last("valid_accuracy")``."""
        if not self.epochs.get(name):
            known = ", ".join(self.epochs) or "none yet"
            raise KeyError(f"no epoch column {name!r} in this history (columns: {known})")
        return self.epochs[name][-1]

    def best(self, name: str, mode: str = "max") -> float:
        """The best value of an epoch column: ``mode="max"`` for accuracy, ``"min"`` for losses."""
        self.last(name)  # same helpful KeyError when the column is missing
        return max(self.epochs[name]) if mode == "max" else min(self.epochs[name])

    def table(self) -> str:
        """The epoch columns as a fixed-width text table, one row per epoch (for printing)."""
        names = list(self.epochs)
        widths = [max(len(name), 9) for name in names]
        lines = ["  ".join(name.rjust(width) for name, width in zip(names, widths))]
        for row in range(self.num_epochs):
            cells = (_format(self.epochs[name][row] if row < len(self.epochs[name]) else None)
                     for name in names)
            lines.append("  ".join(cell.rjust(width) for cell, width in zip(cells, widths)))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"steps": self.steps, "epochs": self.epochs}

    @classmethod
    def from_dict(cls, data: dict) -> History:
        return cls(steps={k: list(v) for k, v in data["steps"].items()},
                   epochs={k: list(v) for k, v in data["epochs"].items()})

    def save(self, path: str | os.PathLike) -> None:
        """Write the history as JSON (floats round-trip exactly)."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        return cls.from_dict(json.loads(Path(path).read_text()))


def _format(value: float | None) -> str:
    if value is None:
        return "-"
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.4g}"
