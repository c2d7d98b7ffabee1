"""Parameter-count formulas: the course's facts, and agreement with real modules at random sizes."""

import random

import pytest
from torch import nn

from course_lib.cells import CoupledLSTMCell, ElmanCell, GRUCell, LSTMCell, PeepholeLSTMCell, Recurrent
from course_lib.params import (
    conv2d_params,
    count_parameters,
    coupled_lstm_params,
    elman_params,
    gru_params,
    linear_params,
    lstm_params,
    lstm_with_output_params,
    peephole_lstm_params,
)


def test_the_seed_figures_for_input_128_hidden_100_one_bias():
    assert gru_params(128, 100) == 68_700
    assert lstm_params(128, 100) == 91_600
    assert peephole_lstm_params(128, 100, peephole="full") == 121_600
    assert coupled_lstm_params(128, 100) == 68_700


def test_the_course_cells_have_exactly_those_counts():
    assert count_parameters(GRUCell(128, 100)) == 68_700
    assert count_parameters(LSTMCell(128, 100)) == 91_600
    assert count_parameters(PeepholeLSTMCell(128, 100, peephole="full")) == 121_600
    assert count_parameters(CoupledLSTMCell(128, 100)) == 68_700
    assert count_parameters(PeepholeLSTMCell(128, 100, peephole="diagonal")) == 91_600 + 300


def test_one_bias_versus_torch_nn_two_biases():
    assert lstm_params(200, 200) == 320_800
    assert count_parameters(nn.LSTM(200, 200)) == 321_600
    assert lstm_params(200, 200, num_biases=2) == 321_600


def test_lstm_with_output_layer_formula():
    for I, H, O in [(1, 1, 1), (128, 100, 2), (50, 73, 65)]:
        assert lstm_with_output_params(I, H, O) == 4 * I * H + 4 * H * H + H * O + 4 * H + O


def test_three_strided_conv_layers_on_rgb_input():
    total = conv2d_params(3, 100, 3) + conv2d_params(100, 200, 3) + conv2d_params(200, 400, 3)
    assert total == 903_400
    network = nn.Sequential(  # 200x300 RGB input; stride and SAME padding leave the count alone
        nn.Conv2d(3, 100, 3, stride=2, padding=1),
        nn.Conv2d(100, 200, 3, stride=2, padding=1),
        nn.Conv2d(200, 400, 3, stride=2, padding=1),
    )
    assert count_parameters(network) == 903_400


def test_count_parameters_can_skip_frozen_ones():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    model[0].requires_grad_(False)
    assert count_parameters(model) == 10
    assert count_parameters(model, trainable_only=False) == 26


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="num_biases"):
        lstm_params(3, 4, num_biases=3)
    with pytest.raises(ValueError, match="hidden_size"):
        gru_params(3, 0)
    with pytest.raises(ValueError, match="peephole"):
        peephole_lstm_params(3, 4, peephole="sparse")


def _random_cases(count=20, seed=2026):
    rng = random.Random(seed)
    return [(rng.randint(1, 300), rng.randint(1, 300), rng.randint(1, 3), rng.randint(0, 2), rng.randint(1, 120))
            for _ in range(count)]


@pytest.mark.parametrize("I,H,layers,num_biases,O", _random_cases())
def test_every_formula_equals_a_real_module(I, H, layers, num_biases, O):
    # torch.nn modules (two biases, or none)
    torch_bias = num_biases > 0
    torch_biases = 2 if torch_bias else 0
    assert count_parameters(nn.RNN(I, H, num_layers=layers, bias=torch_bias)) == elman_params(I, H, torch_biases, layers)
    assert count_parameters(nn.GRU(I, H, num_layers=layers, bias=torch_bias)) == gru_params(I, H, torch_biases, layers)
    assert count_parameters(nn.LSTM(I, H, num_layers=layers, bias=torch_bias)) == lstm_params(I, H, torch_biases, layers)
    assert count_parameters(nn.Linear(I, O, bias=torch_bias)) == linear_params(I, O, bias=torch_bias)
    k = 1 + (I + H) % 5
    assert count_parameters(nn.Conv2d(1 + I % 7, 1 + O % 9, k, bias=torch_bias)) == conv2d_params(
        1 + I % 7, 1 + O % 9, k, bias=torch_bias)
    # the course's own cells, with any bias convention, stacked
    stack = lambda cell, **kw: Recurrent(cell, I, H, num_layers=layers, num_biases=num_biases, **kw)  # noqa: E731
    assert count_parameters(stack(ElmanCell)) == elman_params(I, H, num_biases, layers)
    assert count_parameters(stack(GRUCell)) == gru_params(I, H, num_biases, layers)
    assert count_parameters(stack(LSTMCell)) == lstm_params(I, H, num_biases, layers)
    assert count_parameters(stack(CoupledLSTMCell)) == coupled_lstm_params(I, H, num_biases, layers)
    for kind in ("full", "diagonal"):
        assert count_parameters(stack(PeepholeLSTMCell, peephole=kind)) == peephole_lstm_params(
            I, H, num_biases, kind, layers)
    head = nn.Sequential(LSTMCell(I, H), nn.Linear(H, O))
    assert count_parameters(head) == lstm_with_output_params(I, H, O)
