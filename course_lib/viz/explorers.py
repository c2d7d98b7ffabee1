"""Interactive explorers (ipywidgets) with a static fallback for places widgets cannot reach.

* :class:`TemperatureExplorer` -- a temperature slider that resamples text;
* :class:`GateExplorer` -- pick a text, a gate and a range of units; see the heatmap.

Both are built without a front-end (construction computes the first view, nothing is
displayed), so tests and CI can create them. In JupyterLab, put the explorer as the last line of
a cell to show it. Where widgets cannot render -- the built book, a PDF, CI logs -- call
``explorer.static_figure()``: a matplotlib Figure with the same content.

ipywidgets is imported only when an explorer is created, so the rest of ``course_lib.viz`` works
without it.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
from typing import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from course_lib.viz.gates import plot_gate_heatmap, plot_gates


def figure_png(fig: Figure, close: bool = True) -> bytes:
    """The figure as PNG bytes (for an ``ipywidgets.Image``); closes it by default."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    if close:
        plt.close(fig)
    return buffer.getvalue()


def plot_text_samples(samples: Mapping[object, str], *, name: str = "T", width: int = 90,
                      max_chars: int = 600) -> Figure:
    """Generated texts stacked in one figure, one panel per setting (by default temperatures T).

    samples: ``{0.5: "text ...", 1.0: "...", 2.0: "..."}``, labelled ``T = 0.5`` etc.; long texts
    are cut at ``max_chars`` and wrapped at ``width`` characters, in a monospace font.
    """
    wrapped = {key: textwrap.fill(text[:max_chars] + ("…" if len(text) > max_chars else ""),
                                  width=width, replace_whitespace=False, drop_whitespace=False)
               for key, text in samples.items()}
    heights = [max(1, text.count("\n") + 1) for text in wrapped.values()]
    fig, axes = plt.subplots(len(wrapped), 1, squeeze=False, gridspec_kw={"height_ratios": heights},
                             figsize=(0.09 * width + 1.5, 0.2 * sum(heights) + 0.7 * len(wrapped)))
    for ax, (key, text) in zip(axes[:, 0], wrapped.items()):
        ax.text(0.01, 0.5, text, family="monospace", fontsize=9, va="center", ha="left",
                transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        value = f"{key:g}" if isinstance(key, (int, float)) else str(key)
        ax.set_ylabel(f"{name} = {value}", rotation=0, ha="right", va="center")
        ax.set_xlabel("sampled text", fontsize="small")
    fig.tight_layout()
    return fig


def with_static_fallback(bundle, make_figure: Callable[[], Figure]):
    """A widget's display bundle plus the explorer's static figure as ``image/png``: JupyterLab
    shows the live widget (it ranks widget views first), the book the figure (``_config.yml`` tells
    MyST-NB to skip widget views, which would need the widget manager's scripts from a CDN)."""
    png = {"image/png": base64.b64encode(figure_png(make_figure())).decode("ascii")}
    if isinstance(bundle, tuple):  # (data, metadata)
        return dict(bundle[0], **png), bundle[1]
    return dict(bundle, **png)


class TemperatureExplorer:
    """A slider for the temperature T and a button; shows ``sample_fn(T)`` (a string).

    sample_fn: ``temperature -> text``, e.g.
    ``lambda T: sample_text(model, vocab, "ROMEO:", length=300, temperature=T)``.
    temperatures: the settings that :meth:`static_figure` shows, one panel under the other.
    """

    def __init__(self, sample_fn: Callable[[float], str], *,
                 temperatures: Sequence[float] = (0.0, 0.5, 1.0, 1.5, 2.0), value: float = 1.0):
        import ipywidgets as widgets

        self.sample_fn = sample_fn
        self.temperatures = tuple(temperatures)
        self.slider = widgets.FloatSlider(value=value, min=0.0, max=max(max(self.temperatures), value),
                                          step=0.05, description="T", continuous_update=False)
        self.button = widgets.Button(description="sample again")
        self.output = widgets.HTML()
        self.slider.observe(lambda change: self.resample(), names="value")
        self.button.on_click(lambda button: self.resample())
        self.widget = widgets.VBox([widgets.HBox([self.slider, self.button]), self.output])
        self.text = ""
        self.resample()

    def resample(self) -> str:
        """Draw a new text at the slider's temperature, show it and return it."""
        self.text = self.sample_fn(self.slider.value)
        self.output.value = f"<pre style='white-space: pre-wrap'>{html.escape(self.text)}</pre>"
        return self.text

    def static_figure(self) -> Figure:
        """One sample per temperature in ``temperatures``, as a figure."""
        return plot_text_samples({t: self.sample_fn(t) for t in self.temperatures})

    def _repr_mimebundle_(self, **kwargs):  # shows the widget when the explorer ends a cell
        return with_static_fallback(self.widget._repr_mimebundle_(**kwargs), self.static_figure)


class GateExplorer:
    """Pick a text (or type one), a gate and a range of units; see that gate's heatmap.

    gates_fn: ``text -> {gate name: (T, H) activations}``, running the model over the text.
    texts: the texts offered in the menu (any other text can be typed in).
    tokenize: ``text -> T tokens`` for the time-axis labels; characters by default
        (``str.split`` for a word model -- it must give one token per time step).
    """

    def __init__(self, gates_fn: Callable[[str], Mapping[str, object]], texts: Sequence[str], *,
                 tokenize: Callable[[str], Sequence[str]] = list, max_units: int = 32):
        import ipywidgets as widgets

        if not texts:
            raise ValueError("give at least one text to explore")
        self.gates_fn, self.tokenize = gates_fn, tokenize
        self._cache: dict[str, dict] = {}
        first = self.gates(texts[0])
        num_units = next(iter(first.values())).shape[1]
        self.text_box = widgets.Combobox(value=texts[0], options=list(texts), ensure_option=False,
                                         description="text", continuous_update=False,
                                         layout=widgets.Layout(width="95%"))
        self.gate_menu = widgets.Dropdown(options=list(first), description="gate")
        self.unit_range = widgets.IntRangeSlider(value=(0, min(num_units, max_units) - 1), min=0,
                                                 max=num_units - 1, description="units")
        self.image = widgets.Image(format="png")
        for control in (self.text_box, self.gate_menu, self.unit_range):
            control.observe(lambda change: self.render(), names="value")
        self.widget = widgets.VBox([self.text_box, widgets.HBox([self.gate_menu, self.unit_range]),
                                    self.image])
        self.render()

    def gates(self, text: str) -> dict:
        """The activations of every gate for ``text`` (computed once per text)."""
        if text not in self._cache:
            self._cache[text] = dict(self.gates_fn(text))
        return self._cache[text]

    def _units(self) -> slice:
        low, high = self.unit_range.value
        return slice(low, high + 1)

    def render(self) -> None:
        """Redraw the heatmap for the current text, gate and units into the image widget."""
        text, gate = self.text_box.value, self.gate_menu.value
        fig = plot_gate_heatmap(self.gates(text)[gate], self.tokenize(text), title=gate,
                                units=self._units())
        self.image.value = figure_png(fig)

    def static_figure(self, text: str | None = None) -> Figure:
        """Every gate for ``text`` (default: the selected one) over the selected units."""
        text = self.text_box.value if text is None else text
        return plot_gates(self.gates(text), self.tokenize(text), units=self._units())

    def _repr_mimebundle_(self, **kwargs):
        return with_static_fallback(self.widget._repr_mimebundle_(**kwargs), self.static_figure)
