"""Training curves: loss, accuracy, perplexity per epoch or step, and gradient norms.

What can be plotted ("runs"):

* a :class:`~course_lib.history.History` -- one run;
* a dict of columns, ``{"train_loss": [...], "valid_loss": [...]}`` -- one run from plain lists;
* a dict of named runs, ``{"LSTM": history_a, "GRU": history_b}`` -- several runs on the same
  axes, one colour each, for comparisons.

Per epoch, metric ``m`` is drawn from the columns ``train_m`` (solid) and ``valid_m`` (dashed)
(and ``m`` itself, if a run has such a column). Per step, from the column ``m``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from course_lib.history import History

SPLIT_STYLES = {"train": "-", "valid": "--", "": "-"}


def _is_columns(value) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(column, (Sequence, np.ndarray)) and not isinstance(column, str)
        for column in value.values()
    )


def _named_runs(runs) -> dict[str, History | Mapping]:
    """History | columns | {name: History | columns} -> {name: History | columns}."""
    if isinstance(runs, History) or _is_columns(runs):
        return {"": runs}
    if isinstance(runs, Mapping) and all(isinstance(r, History) or _is_columns(r) for r in runs.values()):
        return dict(runs)
    raise TypeError("plot a History, a dict of columns {'train_loss': [...]} or a dict of named "
                    f"runs {{'LSTM': history, ...}}; got {type(runs).__name__}")


def _columns(run, per: str) -> Mapping[str, Sequence[float]]:
    if isinstance(run, History):
        return run.epochs if per == "epoch" else run.steps
    return run


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < window:
        return values
    return np.convolve(values, np.ones(window) / window, mode="valid")


def _draw_runs(ax, runs, metric: str, per: str, smooth: int, note: str = "") -> None:
    """Draw every (run, split) column of ``metric`` on ``ax``: one colour per run, a style per split."""
    lines = 0
    for colour_index, (run_name, run) in enumerate(_named_runs(runs).items()):
        columns = _columns(run, per)
        for split, style in SPLIT_STYLES.items():
            name = f"{split}_{metric}" if split else metric
            raw = np.asarray(columns.get(name, ()), dtype=float)
            if not len(raw):
                continue
            values = _moving_average(raw, smooth)
            use_epochs = per == "epoch" and "epoch" in columns
            x = np.asarray(columns["epoch"], dtype=float) if use_epochs else np.arange(1, len(raw) + 1)
            x = x[len(raw) - len(values):]  # a moving average sits at the end of its window
            label = " ".join(part for part in (run_name, split, note) if part) or metric
            ax.plot(x, values, style, color=f"C{colour_index}", label=label,
                    marker="o" if per == "epoch" and len(values) < 30 else None, markersize=3)
            lines += 1
    if lines == 0:
        plt.close(ax.figure)
        available = {name for run in _named_runs(runs).values() for name in _columns(run, per)}
        raise ValueError(f"nothing to plot for {metric!r} per {per}; the columns are: "
                         f"{', '.join(sorted(available)) or 'none'}")


def _finish_axes(ax, xlabel: str, ylabel: str, log_scale: bool) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no "epoch 2.5"
    if log_scale:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")


def plot_curves(
    runs,
    metrics: str | Sequence[str] = ("loss",),
    *,
    per: str = "epoch",
    smooth: int = 1,
    log_scale: bool = False,
    title: str | None = None,
) -> Figure:
    """One panel per metric, train (solid) vs valid (dashed), one colour per run.

    runs: a History, a dict of columns or a dict of named runs (see the module docstring).
    metrics: e.g. ``"loss"``, ``["loss", "accuracy"]``, ``"perplexity"``.
    per: ``"epoch"`` (epoch columns) or ``"step"`` (per-step columns, e.g. ``"loss"``).
    smooth: moving-average window, for noisy per-step curves.
    log_scale: logarithmic y axis (perplexities, exploding losses).
    """
    if per not in ("epoch", "step"):
        raise ValueError(f"per must be 'epoch' or 'step', not {per!r}")
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        _draw_runs(ax, runs, metric, per, smooth)
        _finish_axes(ax, per, metric, log_scale)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_grad_norms(runs, clip_norm: float | None = None, *, smooth: int = 1,
                    title: str | None = None) -> Figure:
    """The global gradient norm per step, before clipping, with the clipping threshold.

    Where clipping happened, the norm after clipping is drawn too (it lies at the threshold).
    The y axis is logarithmic: exploding gradients span orders of magnitude.
    """
    fig, ax = plt.subplots(figsize=(7, 3.6))
    _draw_runs(ax, runs, "grad_norm", "step", smooth, note="before clipping")
    if clip_norm is not None:
        for colour_index, (run_name, run) in enumerate(_named_runs(runs).items()):
            clipped = list(_columns(run, "step").get("clipped_grad_norm", ()))
            if clipped and clipped != list(_columns(run, "step")["grad_norm"]):
                ax.plot(np.arange(1, len(clipped) + 1), clipped, color=f"C{colour_index}", alpha=0.4,
                        linewidth=1, label=f"{run_name} after clipping".strip())
        ax.axhline(clip_norm, color="black", linestyle=":", label=f"clip threshold {clip_norm:g}")
    _finish_axes(ax, "step", "global gradient norm (L2)", log_scale=True)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
