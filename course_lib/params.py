r"""How many parameters a layer has, as closed-form formulas, and a counter for real modules.

A recurrent layer with G gate blocks, input size I and hidden size H has, per gate, an input
matrix :math:`H \times I`, a recurrent matrix :math:`H \times H` and ``num_biases`` bias vectors of
length H:

.. math::
    G\,(IH + H^2 + \text{num\_biases}\cdot H)

G is 1 for the Elman RNN, 3 for the GRU and the coupled LSTM, 4 for the LSTM. The textbook
counts one bias per gate (``num_biases=1``, the course's default); ``torch.nn`` keeps two
(``b_ih`` and ``b_hh``), which is why ``torch.nn.LSTM(200, 200)`` has 321,600 parameters where the
formula with one bias gives 320,800. The formulas take ``num_layers`` too: layer 1 reads the input
(size I), every later layer reads the layer below (size H).
"""

from __future__ import annotations

from torch import nn

_GATES = {"elman": 1, "gru": 3, "coupled": 3, "lstm": 4}


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")


def _check_num_biases(num_biases: int) -> None:
    if num_biases not in (0, 1, 2):
        raise ValueError(f"num_biases must be 0, 1 or 2; got {num_biases!r}.")


def gated_layer_params(num_gates: int, input_size: int, hidden_size: int,
                       num_biases: int = 1, num_layers: int = 1) -> int:
    """:math:`G(IH + H^2 + bH)` summed over the layers of a stack (layer k > 1 has input size H)."""
    _check_sizes(num_gates=num_gates, input_size=input_size, hidden_size=hidden_size, num_layers=num_layers)
    _check_num_biases(num_biases)
    total = 0
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else hidden_size
        total += num_gates * (layer_input * hidden_size + hidden_size * hidden_size + num_biases * hidden_size)
    return total


def elman_params(input_size: int, hidden_size: int, num_biases: int = 1, num_layers: int = 1) -> int:
    """Elman RNN: :math:`IH + H^2 + bH` per layer."""
    return gated_layer_params(_GATES["elman"], input_size, hidden_size, num_biases, num_layers)


def gru_params(input_size: int, hidden_size: int, num_biases: int = 1, num_layers: int = 1) -> int:
    """GRU: :math:`3(IH + H^2 + bH)` per layer; 68,700 for I=128, H=100, one bias."""
    return gated_layer_params(_GATES["gru"], input_size, hidden_size, num_biases, num_layers)


def lstm_params(input_size: int, hidden_size: int, num_biases: int = 1, num_layers: int = 1) -> int:
    """LSTM: :math:`4(IH + H^2 + bH)` per layer; 91,600 for I=128, H=100, one bias."""
    return gated_layer_params(_GATES["lstm"], input_size, hidden_size, num_biases, num_layers)


def coupled_lstm_params(input_size: int, hidden_size: int, num_biases: int = 1, num_layers: int = 1) -> int:
    """Coupled input-forget LSTM (CIFG): three gate blocks, the same count as a GRU."""
    return gated_layer_params(_GATES["coupled"], input_size, hidden_size, num_biases, num_layers)


def peephole_lstm_params(input_size: int, hidden_size: int, num_biases: int = 1,
                         peephole: str = "full", num_layers: int = 1) -> int:
    """Peephole LSTM: the LSTM plus :math:`3H^2` (full matrices into i, f, o) or :math:`3H` (diagonal).

    121,600 for I=128, H=100, one bias, full peepholes.
    """
    if peephole not in ("full", "diagonal"):
        raise ValueError(f"peephole must be 'full' or 'diagonal'; got {peephole!r}.")
    per_layer_peepholes = 3 * hidden_size * (hidden_size if peephole == "full" else 1)
    return lstm_params(input_size, hidden_size, num_biases, num_layers) + num_layers * per_layer_peepholes


def linear_params(in_features: int, out_features: int, bias: bool = True) -> int:
    """A fully connected layer: :math:`\\text{in}\\cdot\\text{out} (+ \\text{out})`."""
    _check_sizes(in_features=in_features, out_features=out_features)
    return in_features * out_features + (out_features if bias else 0)


def lstm_with_output_params(input_size: int, hidden_size: int, output_size: int) -> int:
    """An LSTM (one bias per gate) followed by a linear output layer:
    :math:`4IH + 4H^2 + HO + 4H + O`."""
    return lstm_params(input_size, hidden_size) + linear_params(hidden_size, output_size)


def conv2d_params(in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                  bias: bool = True) -> int:
    """A 2-D convolution: :math:`k_h k_w C_\\text{in} C_\\text{out} (+ C_\\text{out})`.

    Stride, padding and the image size change the output's shape, never the parameter count.
    """
    k_h, k_w = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    _check_sizes(in_channels=in_channels, out_channels=out_channels, kernel_height=k_h, kernel_width=k_w)
    return k_h * k_w * in_channels * out_channels + (out_channels if bias else 0)


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """The number of scalar parameters in ``module`` (only those with ``requires_grad`` by default)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
