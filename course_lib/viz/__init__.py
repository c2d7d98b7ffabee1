"""Pictures of training and of what a recurrent network does inside (matplotlib, Agg-safe).

* :mod:`~course_lib.viz.curves` -- loss / accuracy / perplexity curves, gradient norms;
* :mod:`~course_lib.viz.gates` -- gate-activation heatmaps (time × units);
* :mod:`~course_lib.viz.explorers` -- ipywidgets explorers with static fallbacks.

Every plotting function returns its matplotlib Figure (made with pyplot, so notebooks show it
and ``plt.show()`` works); save it with ``fig.savefig("curves.png")``.
"""

from course_lib.viz.curves import plot_curves, plot_grad_norms
from course_lib.viz.explorers import GateExplorer, TemperatureExplorer, figure_png, plot_text_samples
from course_lib.viz.gates import plot_gate_heatmap, plot_gates, value_range_of

__all__ = [
    "GateExplorer",
    "TemperatureExplorer",
    "figure_png",
    "plot_curves",
    "plot_gate_heatmap",
    "plot_gates",
    "plot_grad_norms",
    "plot_text_samples",
    "value_range_of",
]
