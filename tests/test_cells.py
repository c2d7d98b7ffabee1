"""The course's cells against torch.nn, against autograd, and against their equations written out.

The reference equations at the bottom use NumPy on parameters sliced by hand, so that a bug in
course_lib.cells cannot hide in code the test shares with it.
"""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.cells import (
    CoupledLSTMCell,
    ElmanCell,
    GRUCell,
    LSTMCell,
    PeepholeLSTMCell,
    Recurrent,
    lengths_to_mask,
    unroll,
)

SIZES = [(3, 5, 2), (10, 20, 4), (32, 64, 8), (128, 100, 3)]  # (input I, hidden H, batch B)
TOLERANCE = 1e-6


def max_abs_diff(a, b):
    return (a - b).abs().max().item()


def copy_from_torch(ours, theirs, num_biases):
    """Copy a torch.nn cell's weights into ours; with one bias, fold b_ih + b_hh into it."""
    with torch.no_grad():
        ours.weight_ih.copy_(theirs.weight_ih)
        ours.weight_hh.copy_(theirs.weight_hh)
        if num_biases == 2:
            ours.bias_ih.copy_(theirs.bias_ih)
            ours.bias_hh.copy_(theirs.bias_hh)
        else:
            ours.bias.copy_(theirs.bias_ih + theirs.bias_hh)


def copy_from_torch_layer(ours, layer, layer_index=0):
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ours, name).copy_(getattr(layer, f"{name}_l{layer_index}"))


# -- parity with torch.nn, one step -----------------------------------------------------------------


@pytest.mark.parametrize("input_size,hidden_size,batch", SIZES)
@pytest.mark.parametrize("num_biases", [1, 2])
def test_lstm_cell_matches_torch(input_size, hidden_size, batch, num_biases):
    torch.manual_seed(input_size)
    theirs = nn.LSTMCell(input_size, hidden_size)
    ours = LSTMCell(input_size, hidden_size, num_biases=num_biases)
    copy_from_torch(ours, theirs, num_biases)
    x = torch.randn(batch, input_size)
    state = (torch.randn(batch, hidden_size), torch.randn(batch, hidden_size))
    h, (h_again, c) = ours(x, state)
    h_ref, c_ref = theirs(x, state)
    assert max_abs_diff(h, h_ref) <= TOLERANCE
    assert max_abs_diff(c, c_ref) <= TOLERANCE
    assert h is h_again


@pytest.mark.parametrize("input_size,hidden_size,batch", SIZES)
def test_gru_cell_reset_after_matches_torch_with_two_biases(input_size, hidden_size, batch):
    torch.manual_seed(input_size)
    theirs = nn.GRUCell(input_size, hidden_size)
    ours = GRUCell(input_size, hidden_size, num_biases=2, reset_after=True)
    copy_from_torch(ours, theirs, 2)
    x, h0 = torch.randn(batch, input_size), torch.randn(batch, hidden_size)
    h, state = ours(x, h0)
    assert max_abs_diff(h, theirs(x, h0)) <= TOLERANCE
    assert state is h


@pytest.mark.parametrize("input_size,hidden_size,batch", SIZES)
def test_gru_cell_reset_after_one_bias_equals_torch_without_b_hn(input_size, hidden_size, batch):
    # One bias per gate puts b_g outside the reset, which torch.nn matches when its b_hn is zero.
    torch.manual_seed(input_size)
    theirs = nn.GRUCell(input_size, hidden_size)
    with torch.no_grad():
        theirs.bias_hh[2 * hidden_size:] = 0
    ours = GRUCell(input_size, hidden_size, num_biases=1, reset_after=True)
    copy_from_torch(ours, theirs, 1)
    x, h0 = torch.randn(batch, input_size), torch.randn(batch, hidden_size)
    assert max_abs_diff(ours(x, h0)[0], theirs(x, h0)) <= TOLERANCE


@pytest.mark.parametrize("input_size,hidden_size,batch", SIZES)
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("num_biases", [1, 2])
def test_elman_cell_matches_torch_rnn_cell(input_size, hidden_size, batch, nonlinearity, num_biases):
    torch.manual_seed(input_size)
    theirs = nn.RNNCell(input_size, hidden_size, nonlinearity=nonlinearity)
    ours = ElmanCell(input_size, hidden_size, num_biases=num_biases, nonlinearity=nonlinearity)
    copy_from_torch(ours, theirs, num_biases)
    x, h0 = torch.randn(batch, input_size), torch.randn(batch, hidden_size)
    assert max_abs_diff(ours(x, h0)[0], theirs(x, h0)) <= TOLERANCE


# -- parity with torch.nn, whole sequences through unroll ----------------------------------------------

SEQUENCE_MODULES = [
    (nn.LSTM, lambda i, h: LSTMCell(i, h, num_biases=2)),
    (nn.GRU, lambda i, h: GRUCell(i, h, num_biases=2, reset_after=True)),
    (nn.RNN, lambda i, h: ElmanCell(i, h, num_biases=2)),
]


def _torch_state(ours_state):
    """Our final state -> torch.nn's layout (1, B, H) (a pair for the LSTM)."""
    if isinstance(ours_state, tuple):
        return tuple(s.unsqueeze(0) for s in ours_state)
    return ours_state.unsqueeze(0)


def _assert_states_close(ours, theirs):
    ours, theirs = _torch_state(ours), theirs
    if isinstance(ours, tuple):
        for a, b in zip(ours, theirs):
            assert max_abs_diff(a, b) <= TOLERANCE
    else:
        assert max_abs_diff(ours, theirs) <= TOLERANCE


@pytest.mark.parametrize("input_size,hidden_size,batch", SIZES)
@pytest.mark.parametrize("torch_type,make_cell", SEQUENCE_MODULES, ids=["LSTM", "GRU", "RNN"])
def test_unroll_matches_torch_sequence_modules(input_size, hidden_size, batch, torch_type, make_cell):
    torch.manual_seed(hidden_size)
    theirs = torch_type(input_size, hidden_size, batch_first=True)
    ours = make_cell(input_size, hidden_size)
    copy_from_torch_layer(ours, theirs)
    x = torch.randn(batch, 7, input_size)
    outputs, state = unroll(ours, x)
    outputs_ref, state_ref = theirs(x)
    assert outputs.shape == (batch, 7, hidden_size)
    assert max_abs_diff(outputs, outputs_ref) <= TOLERANCE
    _assert_states_close(state, state_ref)


@pytest.mark.parametrize("torch_type,make_cell", SEQUENCE_MODULES, ids=["LSTM", "GRU", "RNN"])
def test_unroll_with_lengths_matches_packed_sequences(torch_type, make_cell):
    torch.manual_seed(0)
    theirs = torch_type(6, 9, batch_first=True)
    ours = make_cell(6, 9)
    copy_from_torch_layer(ours, theirs)
    x = torch.randn(4, 8, 6)
    lengths = torch.tensor([8, 3, 5, 1])
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    packed_out, state_ref = theirs(packed)
    outputs_ref, _ = nn.utils.rnn.pad_packed_sequence(packed_out, batch_first=True, total_length=8)
    outputs, state = unroll(ours, x, lengths)
    assert max_abs_diff(outputs, outputs_ref) <= TOLERANCE  # zeros at padded steps on both sides
    _assert_states_close(state, state_ref)


def test_recurrent_stack_matches_two_layer_torch_lstm():
    torch.manual_seed(1)
    theirs = nn.LSTM(5, 7, num_layers=2, batch_first=True)
    ours = Recurrent(LSTMCell, 5, 7, num_layers=2, num_biases=2)
    for index, cell in enumerate(ours.layers):
        copy_from_torch_layer(cell, theirs, index)
    x = torch.randn(3, 6, 5)
    outputs, states = ours(x)
    outputs_ref, (h_ref, c_ref) = theirs(x)
    assert max_abs_diff(outputs, outputs_ref) <= TOLERANCE
    for layer, (h, c) in enumerate(states):
        assert max_abs_diff(h, h_ref[layer]) <= TOLERANCE
        assert max_abs_diff(c, c_ref[layer]) <= TOLERANCE


def test_recurrent_dropout_only_between_layers():
    torch.manual_seed(2)
    stack = Recurrent(GRUCell, 4, 6, num_layers=3, dropout=0.5)
    x = torch.randn(2, 5, 4)
    stack.eval()
    first, _ = stack(x)
    second, _ = stack(x)
    assert torch.equal(first, second)  # no dropout at evaluation
    stack.train()
    assert not torch.equal(stack(x)[0], first)


# -- padding ------------------------------------------------------------------------------------------

ALL_CELLS = {
    "elman": lambda i, h: ElmanCell(i, h),
    "lstm": lambda i, h: LSTMCell(i, h),
    "gru": lambda i, h: GRUCell(i, h),
    "gru_reset_after": lambda i, h: GRUCell(i, h, reset_after=True),
    "peephole_full": lambda i, h: PeepholeLSTMCell(i, h, peephole="full"),
    "peephole_diagonal": lambda i, h: PeepholeLSTMCell(i, h, peephole="diagonal"),
    "coupled": lambda i, h: CoupledLSTMCell(i, h),
}


def _as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("name", ALL_CELLS)
def test_padded_batch_final_state_equals_each_sequence_alone(name):
    torch.manual_seed(3)
    cell = ALL_CELLS[name](4, 6)
    lengths = torch.tensor([5, 2, 4, 1])
    x = torch.randn(4, 5, 4)
    x[lengths_to_mask(lengths, 5).logical_not()] = 100.0  # garbage in the padding must not leak
    outputs, state = unroll(cell, x, lengths)
    for row, length in enumerate(lengths.tolist()):
        alone_outputs, alone_state = unroll(cell, x[row : row + 1, :length])
        for batched, single in zip(_as_tuple(state), _as_tuple(alone_state)):
            assert max_abs_diff(batched[row], single[0]) <= TOLERANCE
        assert max_abs_diff(outputs[row, :length], alone_outputs[0]) <= TOLERANCE
        assert torch.all(outputs[row, length:] == 0)


def test_unroll_rejects_bad_shapes_and_lengths():
    cell = LSTMCell(3, 4)
    with pytest.raises(ValueError, match=r"\(B, T, 3\)"):
        unroll(cell, torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"\[1, 5\]"):
        unroll(cell, torch.randn(2, 5, 3), lengths=torch.tensor([6, 2]))
    with pytest.raises(ValueError, match=r"one time step"):
        cell(torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match="num_biases"):
        LSTMCell(3, 4, num_biases=3)


# -- gates --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_CELLS)
def test_unroll_returns_every_gate_over_time(name):
    torch.manual_seed(4)
    cell = ALL_CELLS[name](3, 5)
    outputs, _, gates = unroll(cell, torch.randn(2, 6, 3), return_gates=True)
    assert set(gates) == set(cell.gate_names)
    for activation in gates.values():
        assert activation.shape == (2, 6, 5)


def test_lstm_gates_reproduce_the_cell_update():
    torch.manual_seed(5)
    cell = LSTMCell(3, 4)
    c_prev = torch.randn(2, 4)
    h, (_, c), gates = cell(torch.randn(2, 3), (torch.randn(2, 4), c_prev), return_gates=True)
    assert torch.allclose(c, gates["forget"] * c_prev + gates["input"] * gates["candidate"])
    assert torch.allclose(h, gates["output"] * torch.tanh(c))


def test_coupled_input_gate_is_one_minus_forget():
    cell = CoupledLSTMCell(3, 4)
    _, _, gates = cell(torch.randn(2, 3), return_gates=True)
    assert torch.equal(gates["input"], 1 - gates["forget"])


# -- gradients ----------------------------------------------------------------------------------------

GRADCHECK_CELLS = dict(ALL_CELLS, elman_two_biases=lambda i, h: ElmanCell(i, h, num_biases=2),
                       gru_two_biases=lambda i, h: GRUCell(i, h, num_biases=2),
                       lstm_no_bias=lambda i, h: LSTMCell(i, h, num_biases=0))


class Unrolled(nn.Module):
    """unroll as a module, so that torch.func.functional_call can swap the cell's parameters."""

    def __init__(self, cell, lengths):
        super().__init__()
        self.cell, self.lengths = cell, lengths

    def forward(self, x):
        outputs, state = unroll(self.cell, x, self.lengths)
        return (outputs,) + _as_tuple(state)


@pytest.mark.parametrize("name", GRADCHECK_CELLS)
def test_gradcheck_float64(name):
    torch.manual_seed(6)
    module = Unrolled(GRADCHECK_CELLS[name](3, 4).double(), lengths=torch.tensor([3, 2]))
    names = [n for n, _ in module.named_parameters()]
    x = torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True)
    parameters = tuple(p.detach().clone().requires_grad_(True) for p in module.parameters())

    def run(x, *parameters):
        return torch.func.functional_call(module, dict(zip(names, parameters)), (x,))

    assert torch.autograd.gradcheck(run, (x, *parameters), eps=1e-6, atol=1e-8)


# -- the equations written out, in NumPy float64 ---------------------------------------------------------


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def numpy_parameters(cell):
    return {name: p.detach().double().numpy() for name, p in cell.named_parameters()}


def gate_blocks(matrix, count):
    """Split the stacked rows (count*H, ...) into the per-gate blocks."""
    return np.split(matrix, count, axis=0)


def reference_peephole_step(P, x, h, c, peephole):
    W_i, W_f, W_g, W_o = gate_blocks(P["weight_ih"], 4)
    U_i, U_f, U_g, U_o = gate_blocks(P["weight_hh"], 4)
    b_i, b_f, b_g, b_o = gate_blocks(P["bias"], 4)
    P_i, P_f, P_o = gate_blocks(P["weight_ch"], 3)
    peep = (lambda M, v: v @ M.T) if peephole == "full" else (lambda p, v: v * p)
    i = sigmoid(x @ W_i.T + h @ U_i.T + peep(P_i, c) + b_i)
    f = sigmoid(x @ W_f.T + h @ U_f.T + peep(P_f, c) + b_f)
    g = np.tanh(x @ W_g.T + h @ U_g.T + b_g)
    c_new = f * c + i * g
    o = sigmoid(x @ W_o.T + h @ U_o.T + peep(P_o, c_new) + b_o)
    return o * np.tanh(c_new), c_new


def reference_coupled_step(P, x, h, c):
    W_f, W_g, W_o = gate_blocks(P["weight_ih"], 3)
    U_f, U_g, U_o = gate_blocks(P["weight_hh"], 3)
    b_f, b_g, b_o = gate_blocks(P["bias"], 3)
    f = sigmoid(x @ W_f.T + h @ U_f.T + b_f)
    g = np.tanh(x @ W_g.T + h @ U_g.T + b_g)
    o = sigmoid(x @ W_o.T + h @ U_o.T + b_o)
    c_new = f * c + (1 - f) * g
    return o * np.tanh(c_new), c_new


def reference_textbook_gru_step(P, x, h):
    """Cho et al.: the reset gate multiplies h before the recurrent matrix of the candidate."""
    W_r, W_z, W_g = gate_blocks(P["weight_ih"], 3)
    U_r, U_z, U_g = gate_blocks(P["weight_hh"], 3)
    if "bias" in P:
        b_r, b_z, b_g = gate_blocks(P["bias"], 3)
        c_r = c_z = c_g = 0.0
    else:
        b_r, b_z, b_g = gate_blocks(P["bias_ih"], 3)
        c_r, c_z, c_g = gate_blocks(P["bias_hh"], 3)
    r = sigmoid(x @ W_r.T + b_r + h @ U_r.T + c_r)
    z = sigmoid(x @ W_z.T + b_z + h @ U_z.T + c_z)
    g = np.tanh(x @ W_g.T + b_g + (r * h) @ U_g.T + c_g)
    return (1 - z) * g + z * h


def run_reference(step, x, state):
    """Unroll a NumPy step function over x: (B, T, I)."""
    outputs = []
    for t in range(x.shape[1]):
        state = step(x[:, t], state)
        outputs.append(state[0] if isinstance(state, tuple) else state)
    return np.stack(outputs, axis=1), state


@pytest.mark.parametrize("peephole", ["full", "diagonal"])
@pytest.mark.parametrize("input_size,hidden_size,batch", SIZES[:3])
def test_peephole_cell_follows_its_equations(peephole, input_size, hidden_size, batch):
    torch.manual_seed(7)
    cell = PeepholeLSTMCell(input_size, hidden_size, peephole=peephole).double()
    P = numpy_parameters(cell)
    x = torch.randn(batch, 5, input_size, dtype=torch.float64)
    h0, c0 = torch.randn(batch, hidden_size, dtype=torch.float64), torch.randn(batch, hidden_size, dtype=torch.float64)
    outputs, (h, c) = unroll(cell, x, state=(h0, c0))
    expected, (h_ref, c_ref) = run_reference(
        lambda x_t, s: reference_peephole_step(P, x_t, *s, peephole), x.numpy(), (h0.numpy(), c0.numpy()))
    np.testing.assert_allclose(outputs.detach().numpy(), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(c.detach().numpy(), c_ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("input_size,hidden_size,batch", SIZES[:3])
def test_coupled_cell_follows_its_equations(input_size, hidden_size, batch):
    torch.manual_seed(8)
    cell = CoupledLSTMCell(input_size, hidden_size).double()
    P = numpy_parameters(cell)
    x = torch.randn(batch, 5, input_size, dtype=torch.float64)
    outputs, (h, c) = unroll(cell, x)
    zeros = np.zeros((batch, hidden_size))
    expected, (_, c_ref) = run_reference(lambda x_t, s: reference_coupled_step(P, x_t, *s), x.numpy(), (zeros, zeros))
    np.testing.assert_allclose(outputs.detach().numpy(), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(c.detach().numpy(), c_ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("num_biases", [1, 2])
@pytest.mark.parametrize("input_size,hidden_size,batch", SIZES[:3])
def test_textbook_gru_follows_its_equations(num_biases, input_size, hidden_size, batch):
    torch.manual_seed(9)
    cell = GRUCell(input_size, hidden_size, num_biases=num_biases, reset_after=False).double()
    P = numpy_parameters(cell)
    x = torch.randn(batch, 5, input_size, dtype=torch.float64)
    h0 = torch.randn(batch, hidden_size, dtype=torch.float64)
    outputs, _ = unroll(cell, x, state=h0)
    expected, _ = run_reference(lambda x_t, h: reference_textbook_gru_step(P, x_t, h), x.numpy(), h0.numpy())
    np.testing.assert_allclose(outputs.detach().numpy(), expected, rtol=0, atol=1e-12)


def test_textbook_and_pytorch_gru_differ():
    # The two conventions are different functions of the same weights: the flag matters.
    torch.manual_seed(10)
    textbook = GRUCell(4, 5, reset_after=False)
    pytorch_form = GRUCell(4, 5, reset_after=True)
    pytorch_form.load_state_dict(textbook.state_dict())
    x, h0 = torch.randn(3, 4), torch.randn(3, 5)
    assert max_abs_diff(textbook(x, h0)[0], pytorch_form(x, h0)[0]) > 1e-3


# -- the fast path (course_lib.fastpath) against the readable loop and torch.nn ----------------------

FAST_TOLERANCE = 1e-10  # float64: both paths compute the same equations in another order

FAST_CELLS = dict(
    GRADCHECK_CELLS,
    elman_relu=lambda i, h: ElmanCell(i, h, nonlinearity="relu"),
    lstm_two_biases=lambda i, h: LSTMCell(i, h, num_biases=2),
    gru_reset_after_two_biases=lambda i, h: GRUCell(i, h, num_biases=2, reset_after=True),
    gru_reset_after_no_bias=lambda i, h: GRUCell(i, h, num_biases=0, reset_after=True),
    peephole_full_two_biases=lambda i, h: PeepholeLSTMCell(i, h, num_biases=2),
    coupled_no_bias=lambda i, h: CoupledLSTMCell(i, h, num_biases=0),
)


def _random_state(cell, batch):
    """A random initial state that requires grad: h, or the pair (h, c), each (B, H) float64."""
    parts = tuple(torch.randn(batch, cell.hidden_size, dtype=torch.float64, requires_grad=True)
                  for _ in range(2 if cell.has_cell_state else 1))
    return parts if cell.has_cell_state else parts[0]


def _outputs_and_gradients(cell, x, lengths, state, fast):
    """Outputs, final state and the gradients of a loss that reads both, w.r.t. x, state, parameters."""
    outputs, final = unroll(cell, x, lengths, state, fast=fast)
    weights = torch.linspace(-1, 1, outputs.numel(), dtype=outputs.dtype).view_as(outputs)
    loss = (outputs * weights).sum() + sum((k + 1) * (part ** 2).sum() for k, part in enumerate(_as_tuple(final)))
    inputs = [x, *(() if state is None else _as_tuple(state)), *cell.parameters()]
    return [outputs, *_as_tuple(final)], torch.autograd.grad(loss, inputs)


@pytest.mark.parametrize("lengths", [None, [7, 3, 5, 1, 7]], ids=["full", "padded"])
@pytest.mark.parametrize("name", FAST_CELLS)
def test_fast_path_equals_readable_loop_values_and_gradients(name, lengths):
    torch.manual_seed(11)
    cell = FAST_CELLS[name](4, 6).double()
    x = torch.randn(5, 7, 4, dtype=torch.float64, requires_grad=True)
    lengths = None if lengths is None else torch.tensor(lengths)
    state = _random_state(cell, 5)
    plain_values, plain_grads = _outputs_and_gradients(cell, x, lengths, state, fast=False)
    fast_values, fast_grads = _outputs_and_gradients(cell, x, lengths, state, fast=True)
    assert len(fast_grads) == len(plain_grads) == 1 + len(_as_tuple(state)) + len(list(cell.parameters()))
    for fast, plain in zip(fast_values + list(fast_grads), plain_values + list(plain_grads)):
        assert fast.shape == plain.shape
        assert max_abs_diff(fast, plain) <= FAST_TOLERANCE
    if lengths is not None:
        assert torch.all(fast_values[0][lengths_to_mask(lengths, 7).logical_not()] == 0)


@pytest.mark.parametrize("name", FAST_CELLS)
def test_masked_fast_path_equals_readable_loop(name, monkeypatch):
    # Masked: every row runs every step (fixed shapes, what a CUDA graph replays for any lengths);
    # on the GPU it is the default for padded batches, so it is checked here on the CPU.
    from course_lib import fastpath

    monkeypatch.setattr(fastpath, "MASKED", True)
    torch.manual_seed(18)
    cell = FAST_CELLS[name](4, 6).double()
    lengths = torch.tensor([7, 3, 5, 1, 7], dtype=torch.int32)
    x = torch.randn(5, 7, 4, dtype=torch.float64)
    x[lengths_to_mask(lengths, 7).logical_not()] = 3.0  # the padding runs: it must not leak
    x.requires_grad_(True)
    state = _random_state(cell, 5)
    plain_values, plain_grads = _outputs_and_gradients(cell, x, lengths, state, fast=False)
    fast_values, fast_grads = _outputs_and_gradients(cell, x, lengths, state, fast=True)
    for fast, plain in zip(fast_values + list(fast_grads), plain_values + list(plain_grads)):
        assert max_abs_diff(fast, plain) <= FAST_TOLERANCE
    assert torch.all(fast_values[0][lengths_to_mask(lengths, 7).logical_not()] == 0)


@pytest.mark.parametrize("packed", [False, True], ids=["full", "packed"])
@pytest.mark.parametrize("torch_type,make_cell", SEQUENCE_MODULES, ids=["LSTM", "GRU", "RNN"])
def test_fast_path_gradients_match_torch_nn(torch_type, make_cell, packed):
    torch.manual_seed(12)
    theirs = torch_type(5, 6, batch_first=True).double()
    ours = make_cell(5, 6).double()
    copy_from_torch_layer(ours, theirs)
    x = torch.randn(4, 8, 5, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([8, 2, 5, 8]) if packed else None
    outputs, final = unroll(ours, x, lengths, fast=True)
    if packed:
        packed_x = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        packed_out, final_ref = theirs(packed_x)
        outputs_ref, _ = nn.utils.rnn.pad_packed_sequence(packed_out, batch_first=True, total_length=8)
    else:
        outputs_ref, final_ref = theirs(x)
    probe = torch.randn_like(outputs)
    loss = (outputs * probe).sum() + sum(part.sum() for part in _as_tuple(final))
    loss_ref = (outputs_ref * probe).sum() + sum(part.sum() for part in _as_tuple(final_ref))
    grads = torch.autograd.grad(loss, [x, ours.weight_ih, ours.weight_hh, ours.bias_ih, ours.bias_hh])
    grads_ref = torch.autograd.grad(loss_ref, [x] + [getattr(theirs, f"{n}_l0") for n in
                                                      ("weight_ih", "weight_hh", "bias_ih", "bias_hh")])
    assert max_abs_diff(outputs, outputs_ref) <= FAST_TOLERANCE
    for ours_grad, their_grad in zip(grads, grads_ref):
        assert max_abs_diff(ours_grad, their_grad) <= FAST_TOLERANCE


class FastUnrolled(nn.Module):
    """The fast path as a module taking the initial state, for torch.func.functional_call."""

    def __init__(self, cell, lengths):
        super().__init__()
        self.cell, self.lengths = cell, lengths

    def forward(self, x, state):
        return unroll(self.cell, x, self.lengths, state, fast=True)


@pytest.mark.parametrize("name", FAST_CELLS)
def test_gradcheck_float64_fast_path_with_state(name):
    torch.manual_seed(13)
    cell = FAST_CELLS[name](3, 4).double()
    lengths = torch.tensor([3, 1, 2])
    module = FastUnrolled(cell, lengths)
    names = [n for n, _ in module.named_parameters()]
    x = torch.randn(3, 3, 3, dtype=torch.float64, requires_grad=True)
    state = _as_tuple(_random_state(cell, 3))
    parameters = tuple(p.detach().clone().requires_grad_(True) for p in cell.parameters())

    def run(x, *tensors):
        state_in = tensors[: len(state)]
        swapped = dict(zip(names, tensors[len(state):]))
        state_in = state_in if cell.has_cell_state else state_in[0]
        outputs, final = torch.func.functional_call(module, swapped, (x, state_in))
        return (outputs,) + _as_tuple(final)

    assert torch.autograd.gradcheck(run, (x, *state, *parameters), eps=1e-6, atol=1e-8)


def test_fast_path_is_the_default_and_can_be_switched_off(monkeypatch):
    from course_lib import cells, fastpath

    calls = []
    original = fastpath.unroll
    monkeypatch.setattr(fastpath, "unroll", lambda *args: calls.append(1) or original(*args))
    cell, x = LSTMCell(3, 4), torch.randn(2, 5, 3)
    default_outputs, _ = unroll(cell, x)
    assert calls == [1]
    plain_outputs, _ = unroll(cell, x, fast=False)
    assert calls == [1]
    monkeypatch.setattr(cells, "FAST_PATH", False)
    unroll(cell, x)
    assert calls == [1]
    assert unroll(cell, x, fast=True)[0].shape == (2, 5, 4) and calls == [1, 1]
    assert max_abs_diff(default_outputs, plain_outputs) <= TOLERANCE


def test_gates_subclasses_and_autocast_take_the_readable_loop(monkeypatch):
    from course_lib import fastpath

    def refuse(*args):
        raise AssertionError("the fast path must not run here")

    monkeypatch.setattr(fastpath, "unroll", refuse)
    torch.manual_seed(14)
    cell, x = GRUCell(3, 4), torch.randn(2, 5, 3)
    outputs, _, gates = unroll(cell, x, return_gates=True)  # the fast path keeps no gates
    assert set(gates) == {"reset", "update", "candidate"}

    class Halved(LSTMCell):  # a student's subclass may change the equations
        def step(self, x_projected, state):
            h, (h, c), gates = super().step(x_projected, state)
            return h / 2, (h / 2, c), gates

    halved = Halved(3, 4)
    plain = LSTMCell(3, 4)
    plain.load_state_dict(halved.state_dict())
    assert fastpath.supports(plain, x) and not fastpath.supports(halved, x)
    assert max_abs_diff(unroll(halved, x)[0][:, 0], unroll(plain, x, fast=False)[0][:, 0] / 2) <= TOLERANCE
    assert not fastpath.supports(plain, x.double())  # dtype differs from the weights
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not fastpath.supports(plain, x)


def test_fast_path_runs_under_deterministic_algorithms():
    torch.manual_seed(15)
    cell = PeepholeLSTMCell(3, 4).double()
    x = torch.randn(3, 6, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([6, 2, 4])
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        values, grads = _outputs_and_gradients(cell, x, lengths, None, fast=True)
    finally:
        torch.use_deterministic_algorithms(previous)
    plain_values, plain_grads = _outputs_and_gradients(cell, x, lengths, None, fast=False)
    for a, b in zip(values + list(grads), plain_values + list(plain_grads)):
        assert max_abs_diff(a, b) <= FAST_TOLERANCE


def test_fast_path_never_runs_padded_steps():
    # A ReLU RNN fed huge values in the padding: the readable loop freezes the state there, the
    # packed fast path skips those steps; neither may leak inf or nan into outputs or gradients.
    torch.manual_seed(16)
    cell = ElmanCell(3, 4, nonlinearity="relu").double()
    with torch.no_grad():
        cell.weight_hh.fill_(3.0)
    lengths = torch.tensor([2, 20])
    x = torch.randn(2, 20, 3, dtype=torch.float64)
    x[0, 2:] = 1e30
    x.requires_grad_(True)
    values, grads = _outputs_and_gradients(cell, x, lengths, None, fast=True)
    plain_values, plain_grads = _outputs_and_gradients(cell, x, lengths, None, fast=False)
    assert torch.all(values[0][0, 2:] == 0)
    assert max_abs_diff(values[1][0], plain_values[1][0]) <= FAST_TOLERANCE
    assert torch.equal(grads[0][0, 2:], torch.zeros(18, 3, dtype=torch.float64))
    assert max_abs_diff(grads[0][0], plain_grads[0][0]) <= FAST_TOLERANCE


def test_recurrent_stack_through_the_fast_path_matches_torch_gru():
    torch.manual_seed(17)
    theirs = nn.GRU(5, 7, num_layers=2, batch_first=True).double()
    ours = Recurrent(GRUCell, 5, 7, num_layers=2, num_biases=2, reset_after=True).double()
    for index, cell in enumerate(ours.layers):
        copy_from_torch_layer(cell, theirs, index)
    x = torch.randn(3, 6, 5, dtype=torch.float64, requires_grad=True)
    outputs, states = ours(x)
    outputs_ref, h_ref = theirs(x)
    assert max_abs_diff(outputs, outputs_ref) <= FAST_TOLERANCE
    for layer, h in enumerate(states):
        assert max_abs_diff(h, h_ref[layer]) <= FAST_TOLERANCE
    grad, = torch.autograd.grad(outputs.square().sum(), x)
    grad_ref, = torch.autograd.grad(outputs_ref.square().sum(), x)
    assert max_abs_diff(grad, grad_ref) <= FAST_TOLERANCE


def test_cuda_graph_failure_warns_once_and_falls_back(monkeypatch):
    # The graphs themselves need a GPU (benchmarks/cells_cuda_check.py checks them there); here: a
    # shape is captured at its third call, and a capture that fails leaves the eager fast path in
    # charge, with one warning per shape.
    from course_lib import fastpath, graphed

    def broken(*args):
        raise RuntimeError("no graphs today")

    monkeypatch.setattr(graphed, "_Captured", broken)
    monkeypatch.setattr(graphed, "_failed", set())
    monkeypatch.setattr(graphed, "_seen", {})
    cell, x = GRUCell(3, 4, reset_after=True), torch.randn(2, 5, 3)
    plan = fastpath.Plan(fastpath._GRULoop, False, [2] * 5)
    tensors = (x, cell.weight_ih, cell.bias, cell.init_state(2), None, cell.weight_hh, None, None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(graphed.CAPTURE_AT - 1):  # a shape's first calls run eagerly: no capture yet
            assert graphed.unroll(plan, tensors) is None
    with pytest.warns(UserWarning, match=r"CUDA graph capture failed for GRU on x \(2, 5, 3\) torch.float32; using the eager "
                                         r"fast path \(RuntimeError: no graphs today\)"):
        assert graphed.unroll(plan, tensors) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert graphed.unroll(plan, tensors) is None  # remembered: no second capture, no second warning
    monkeypatch.setattr(graphed, "ENABLED", False)
    monkeypatch.setattr(graphed, "_failed", set())
    assert graphed.unroll(plan, tensors) is None
