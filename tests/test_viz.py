"""course_lib.viz: every figure has labelled axes and renders to PNG under Agg; explorers work headless."""

import base64
import matplotlib

matplotlib.use("Agg")  # no display in CI; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib.history import History  # noqa: E402
from course_lib.viz import (  # noqa: E402
    GateExplorer, TemperatureExplorer, figure_png, plot_curves, plot_gate_heatmap, plot_gates,
    plot_grad_norms, plot_text_samples,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TEXT = "to be or not"
TOKENS = list(TEXT)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def assert_labelled_png(fig, path):
    """Every panel that shows data has an x label; the PNG is real and not empty."""
    assert isinstance(fig, matplotlib.figure.Figure)
    data_axes = [ax for ax in fig.axes if ax.lines or ax.images or ax.texts]
    assert data_axes, "the figure shows nothing"
    for ax in data_axes:
        assert ax.get_xlabel(), f"an axes without an x label: {ax.get_title()!r}"
        assert ax.get_ylabel(), f"an axes without a y label: {ax.get_title()!r}"
    fig.savefig(path)
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1024


def make_history(epochs=4, steps_per_epoch=5, clip=None, seed=0):
    rng = np.random.default_rng(seed)
    history = History()
    for epoch in range(1, epochs + 1):
        for _ in range(steps_per_epoch):
            norm = float(rng.uniform(0.5, 20))
            history.log_step(loss=float(rng.uniform(1, 3)), grad_norm=norm,
                             clipped_grad_norm=min(norm, clip) if clip else norm)
        history.log_epoch(epoch=epoch, train_loss=3 / epoch, valid_loss=3.2 / epoch,
                          train_accuracy=1 - 0.5 / epoch, valid_accuracy=1 - 0.6 / epoch,
                          valid_perplexity=60 / epoch, lr=1.0, seconds=1.5)
    return history


def test_training_curves_train_vs_valid(tmp_path):
    fig = plot_curves(make_history(), ["loss", "accuracy"], title="IMDB, LSTM")
    loss_axes = fig.axes[0]
    assert [line.get_label() for line in loss_axes.lines] == ["train", "valid"]
    assert loss_axes.get_xlabel() == "epoch" and loss_axes.get_ylabel() == "loss"
    assert_labelled_png(fig, tmp_path / "curves.png")


def test_several_runs_share_the_axes_one_colour_each(tmp_path):
    fig = plot_curves({"LSTM": make_history(seed=0), "GRU": make_history(seed=1)}, "perplexity",
                      log_scale=True)
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels == ["LSTM valid", "GRU valid"]
    assert fig.axes[0].lines[0].get_color() != fig.axes[0].lines[1].get_color()
    assert_labelled_png(fig, tmp_path / "runs.png")


def test_curves_from_plain_lists_and_per_step_with_smoothing(tmp_path):
    fig = plot_curves({"train_loss": [2.0, 1.5, 1.2], "valid_loss": [2.1, 1.7, 1.6]})
    assert len(fig.axes[0].lines) == 2
    assert_labelled_png(fig, tmp_path / "lists.png")
    fig = plot_curves(make_history(), "loss", per="step", smooth=3)
    x = fig.axes[0].lines[0].get_xdata()
    assert x[0] == 3 and x[-1] == 20  # a 3-step average is drawn at the end of its window
    assert_labelled_png(fig, tmp_path / "steps.png")


def test_a_missing_metric_names_the_available_columns():
    with pytest.raises(ValueError, match="nothing to plot for 'bleu'.*valid_accuracy"):
        plot_curves(make_history(), "bleu")


def test_gradient_norms_with_the_clip_threshold(tmp_path):
    fig = plot_grad_norms(make_history(clip=5.0), clip_norm=5.0)
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.lines]
    assert labels == ["before clipping", "after clipping", "clip threshold 5"]
    assert list(ax.lines[-1].get_ydata()) == [5.0, 5.0]
    assert ax.get_yscale() == "log"
    assert_labelled_png(fig, tmp_path / "grad_norms.png")


def test_sigmoid_gate_heatmap_uses_zero_to_one_and_token_ticks(tmp_path):
    gate = torch.sigmoid(torch.randn(len(TOKENS), 20))  # (T, H) as a tensor
    fig = plot_gate_heatmap(gate, TOKENS, title="forget gate")
    ax = fig.axes[0]
    assert ax.images[0].get_clim() == (0.0, 1.0)
    assert ax.images[0].get_array().shape == (20, len(TOKENS))  # units down, time across
    assert [label.get_text() for label in ax.get_xticklabels()] == [
        "t", "o", "␣", "b", "e", "␣", "o", "r", "␣", "n", "o", "t"]
    assert_labelled_png(fig, tmp_path / "gate.png")


def test_tanh_heatmap_uses_minus_one_to_one_and_a_unit_selection(tmp_path):
    candidate = np.tanh(np.random.default_rng(0).normal(size=(len(TOKENS), 50)))
    fig = plot_gate_heatmap(candidate, TOKENS, units=slice(10, 20))
    assert fig.axes[0].images[0].get_clim() == (-1.0, 1.0)
    assert fig.axes[0].images[0].get_array().shape == (10, len(TOKENS))
    assert_labelled_png(fig, tmp_path / "tanh.png")


def test_a_token_list_of_the_wrong_length_is_explained():
    with pytest.raises(ValueError, match="3 tokens for 12 time steps"):
        plot_gate_heatmap(np.zeros((12, 4)), ["a", "b", "c"])


def gru_gates(text):
    """Stand-in for running a GRU over ``text``: {gate: (T, H)} with the right value ranges."""
    rng = np.random.default_rng(len(text))
    steps = len(text)
    return {"reset": 1 / (1 + np.exp(-rng.normal(size=(steps, 40)))),
            "update": 1 / (1 + np.exp(-rng.normal(size=(steps, 40)))),
            "candidate": np.tanh(rng.normal(size=(steps, 40)))}


def test_multi_panel_gates_figure(tmp_path):
    fig = plot_gates(gru_gates(TEXT), TOKENS, units=16, title="GRU on a line of Hamlet")
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert [image.get_clim() for image in images] == [(0.0, 1.0), (0.0, 1.0), (-1.0, 1.0)]
    assert all(image.get_array().shape == (16, len(TOKENS)) for image in images)
    assert_labelled_png(fig, tmp_path / "gates.png")


def test_text_samples_figure(tmp_path):
    fig = plot_text_samples({0.5: "the the the " * 20, 1.0: "a cat sat\non the mat", 2.0: "qx!"})
    assert_labelled_png(fig, tmp_path / "samples.png")


def test_temperature_explorer_works_without_a_front_end(tmp_path):
    asked = []

    def sample_fn(temperature):
        asked.append(temperature)
        return f"<text at T={temperature}>"

    explorer = TemperatureExplorer(sample_fn, temperatures=(0.0, 1.0, 2.0), value=0.5)
    assert asked == [0.5] and "&lt;text at T=0.5&gt;" in explorer.output.value
    explorer.slider.value = 1.5  # what moving the slider does
    assert asked[-1] == 1.5 and explorer.text == "<text at T=1.5>"
    explorer.button.click()
    assert asked[-1] == 1.5 and len(asked) == 3
    assert "application/vnd.jupyter.widget-view+json" in explorer._repr_mimebundle_()
    assert_labelled_png(explorer.static_figure(), tmp_path / "temperatures.png")
    assert asked[-3:] == [0.0, 1.0, 2.0]


def test_gate_explorer_works_without_a_front_end(tmp_path):
    calls = []

    def gates_fn(text):
        calls.append(text)
        return gru_gates(text)

    explorer = GateExplorer(gates_fn, [TEXT, "a longer line of text"], max_units=8)
    first_image = explorer.image.value
    assert first_image[:8] == PNG_MAGIC and explorer.unit_range.value == (0, 7)
    explorer.gate_menu.value = "candidate"
    explorer.text_box.value = "a longer line of text"
    explorer.unit_range.value = (5, 30)
    assert explorer.image.value[:8] == PNG_MAGIC and explorer.image.value != first_image
    assert calls == [TEXT, "a longer line of text"]  # each text's gates computed once
    fig = explorer.static_figure()
    assert len([ax for ax in fig.axes if ax.images]) == 3
    assert fig.axes[0].images[0].get_array().shape == (26, len("a longer line of text"))
    assert_labelled_png(fig, tmp_path / "explorer.png")
    assert len(plt.get_fignums()) == 1  # only the static figure: rendering closed its own


def test_figure_png_returns_png_bytes_and_closes_the_figure():
    fig = plot_curves(make_history(), "loss")
    data = figure_png(fig)
    assert data[:8] == PNG_MAGIC and len(data) > 1024
    assert fig.number not in plt.get_fignums()


def test_an_explorer_displays_as_a_widget_with_its_static_figure_beside_it():
    explorer = TemperatureExplorer(lambda t: f"text at T={t:g}", temperatures=(0.5, 1.0), value=0.5)
    data = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert base64.b64decode(data["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
