"""Heatmaps of gate activations: what each hidden unit does at each time step.

An activation array is ``(T, H)``: time steps × hidden units (a tensor or a NumPy array). It is
drawn with time running left to right, as the text is read, the tokens written under their
steps, and one row per unit. Colour ranges are fixed, not stretched to the data, so that two
heatmaps can be compared by eye:

* values in [0, 1] -- sigmoid gates (input, forget, output, reset, update) -- use 0..1;
* values in [-1, 1] -- tanh values (candidate, tanh of the cell) -- use -1..1, white at 0;
* anything larger (the raw LSTM cell state) uses a symmetric range around 0.

Pass ``value_range=(low, high)`` to choose yourself.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

MAX_TOKEN_LABELS = 80  # beyond this many steps, label every k-th token so labels stay legible
VISIBLE = {" ": "␣", "\n": "⏎", "\t": "⇥"}  # whitespace characters made visible as tick labels

Units = int | slice | Sequence[int] | None


def _as_array(activations) -> np.ndarray:
    if hasattr(activations, "detach"):  # a torch tensor, possibly on the GPU
        activations = activations.detach().float().cpu().numpy()
    array = np.asarray(activations, dtype=float)
    if array.ndim != 2:
        raise ValueError(f"gate activations must be (T, H) = time steps × units; got shape {array.shape}")
    return array


def _unit_indices(units: Units, num_units: int) -> np.ndarray:
    """None: all units; n: the first n; a slice or a list of indices: those."""
    if units is None:
        return np.arange(num_units)
    if isinstance(units, int):
        return np.arange(min(units, num_units))
    if isinstance(units, slice):
        return np.arange(num_units)[units]
    return np.asarray(list(units), dtype=int)


def value_range_of(array: np.ndarray) -> tuple[float, float]:
    """The fixed colour range for these values: (0, 1), (-1, 1) or symmetric around 0."""
    low, high = float(np.min(array)), float(np.max(array))
    if low >= 0 and high <= 1:
        return 0.0, 1.0
    if low >= -1 and high <= 1:
        return -1.0, 1.0
    largest = max(abs(low), abs(high))
    return -largest, largest


def _draw_heatmap(ax, activations, tokens, units, value_range, colorbar_label):
    array = _as_array(activations)
    num_steps, num_units = array.shape
    if tokens is not None and len(tokens) != num_steps:
        raise ValueError(f"{len(tokens)} tokens for {num_steps} time steps: give one token per step")
    unit_ids = _unit_indices(units, num_units)
    low, high = value_range or value_range_of(array)
    colormap = "viridis" if low >= 0 else "RdBu_r"  # diverging colours when 0 is the middle
    image = ax.imshow(array[:, unit_ids].T, aspect="auto", interpolation="nearest",
                      cmap=colormap, vmin=low, vmax=high)
    every = math.ceil(num_steps / MAX_TOKEN_LABELS)
    steps = np.arange(0, num_steps, every)
    ax.set_xticks(steps)
    if tokens is not None:
        ax.set_xticklabels([VISIBLE.get(str(tokens[i]), str(tokens[i])) for i in steps],
                           rotation=90, fontsize="small")
        ax.set_xlabel("time step (input token)")
    else:
        ax.set_xlabel("time step")
    shown = np.arange(0, len(unit_ids), math.ceil(len(unit_ids) / 32))
    ax.set_yticks(shown)
    ax.set_yticklabels([str(unit_ids[i]) for i in shown], fontsize="small")
    ax.set_ylabel("hidden unit")
    colorbar = ax.figure.colorbar(image, ax=ax, pad=0.01)
    colorbar.set_label(colorbar_label)
    return image


def _figure_width(num_steps: int) -> float:
    return float(np.clip(0.22 * num_steps, 6, 22))


def plot_gate_heatmap(
    activations,
    tokens: Sequence[str] | None = None,
    *,
    title: str | None = None,
    units: Units = None,
    value_range: tuple[float, float] | None = None,
) -> Figure:
    """One gate's activations (T, H) as a heatmap: time (tokens) across, units down.

    tokens: T strings (characters or words) written under their time steps.
    units: which units to show -- all (None), the first n (an int), a slice or a list of indices.
    value_range: the colour range; by default (0, 1) for sigmoid gates, (-1, 1) for tanh values.
    """
    array = _as_array(activations)
    num_units = len(_unit_indices(units, array.shape[1]))
    fig, ax = plt.subplots(figsize=(_figure_width(array.shape[0]), 1.5 + 0.12 * min(num_units, 64)))
    _draw_heatmap(ax, array, tokens, units, value_range, colorbar_label=title or "activation")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_gates(
    gates: Mapping[str, object],
    tokens: Sequence[str] | None = None,
    *,
    units: Units = None,
    value_range: tuple[float, float] | Mapping[str, tuple[float, float]] | None = None,
    title: str | None = None,
) -> Figure:
    """Several gates for the same text, one heatmap each, stacked with a shared time axis.

    gates: ``{"reset": (T, H), "update": (T, H), "candidate": (T, H)}`` -- any names, any number.
    value_range: one range for every panel, or ``{gate name: range}``; unnamed panels choose their
    own range from their values (see :func:`value_range_of`).
    """
    if not gates:
        raise ValueError("no gates to plot: give a dict {gate name: (T, H) activations}")
    arrays = {name: _as_array(values) for name, values in gates.items()}
    num_steps = next(iter(arrays.values())).shape[0]
    num_units = len(_unit_indices(units, next(iter(arrays.values())).shape[1]))
    panel_height = 1.2 + 0.1 * min(num_units, 64)
    fig, axes = plt.subplots(len(arrays), 1, squeeze=False, sharex=True,
                             figsize=(_figure_width(num_steps), panel_height * len(arrays) + 0.8))
    for ax, (name, array) in zip(axes[:, 0], arrays.items()):
        chosen = value_range.get(name) if isinstance(value_range, Mapping) else value_range
        _draw_heatmap(ax, array, tokens, units, chosen, colorbar_label=name)
        ax.set_title(name, loc="left", fontsize="medium")
        ax.tick_params(labelbottom=True)  # sharex hides the token labels of the upper panels
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
