r"""Recurrent cells written out from their equations, a loop that unrolls any of them, and a stack.

A *cell* does one time step: it maps an input :math:`x_t` and the previous state to the new
state. The course's cells:

* :class:`ElmanCell`       -- the plain ("vanilla") RNN, :math:`h_t = \tanh(W_{xh} x_t + W_{hh} h_{t-1} + b)`;
* :class:`LSTMCell`        -- Hochreiter & Schmidhuber's LSTM with a forget gate, gate order i, f, g, o;
* :class:`GRUCell`         -- Cho et al.'s gated recurrent unit, in the textbook or PyTorch's form;
* :class:`PeepholeLSTMCell` -- an LSTM whose gates also read the cell state (full or diagonal);
* :class:`CoupledLSTMCell` -- the coupled input-forget gate LSTM (CIFG): :math:`i = 1 - f`.

Every cell uses the same layout, so that one loop can run them all:

* ``weight_ih``: ``(G*H, I)`` and ``weight_hh``: ``(G*H, H)`` hold the G gate blocks stacked
  in the order the docstring gives (the same order as ``torch.nn``, so weights copy across);
* biases: by default ONE bias vector per gate, ``bias``: ``(G*H,)`` -- the textbook count.
  ``num_biases=2`` gives PyTorch's pair ``bias_ih`` and ``bias_hh``; ``num_biases=0`` none.
* ``cell(x, state)`` returns ``(h, state)``; with ``return_gates=True`` it returns
  ``(h, state, gates)`` where ``gates`` maps a gate's name to its activation ``(B, H)``.
  ``state`` is the tensor ``h`` for the Elman and GRU cells and the pair ``(h, c)`` for LSTMs.

Shapes: ``x: (B, I)``, ``h, c: (B, H)``; the loop :func:`unroll` takes ``x: (B, T, I)``.

Why split a step into :meth:`RecurrentCell.project_input` and :meth:`RecurrentCell.step`: the input term
:math:`W_{x\cdot} x_t` does not depend on the recurrence, so :func:`unroll` computes it for all
T steps in one large matrix product and only the hidden term stays inside the Python loop.

The loop in :func:`unroll` is the one to read. By default it hands the course's own cells to
:mod:`course_lib.fastpath`, which computes the same equations with a hand-written backward pass
(and, on a GPU, replays them from CUDA graphs, :mod:`course_lib.graphed`); ``unroll(...,
fast=False)`` or ``FAST_PATH = False`` runs this readable loop instead.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

State = Tensor | tuple[Tensor, Tensor]


class RecurrentCell(nn.Module):
    """What every cell shares: stacked gate weights, the bias convention, init and the state.

    Subclasses set ``num_gates`` and ``gate_names``, and implement :meth:`step`.
    """

    num_gates: int = 1
    gate_names: tuple[str, ...] = ()
    has_cell_state: bool = False

    def __init__(self, input_size: int, hidden_size: int, num_biases: int = 1):
        super().__init__()
        if num_biases not in (0, 1, 2):
            raise ValueError(
                f"num_biases must be 0 (no bias), 1 (one per gate, the textbook count) or "
                f"2 (PyTorch's bias_ih and bias_hh); got {num_biases!r}."
            )
        if input_size < 1 or hidden_size < 1:
            raise ValueError(f"sizes must be positive; got input_size={input_size}, hidden_size={hidden_size}.")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_biases = num_biases
        rows = self.num_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size))
        if num_biases == 1:
            self.bias = nn.Parameter(torch.empty(rows))
        elif num_biases == 2:
            self.bias_ih = nn.Parameter(torch.empty(rows))
            self.bias_hh = nn.Parameter(torch.empty(rows))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform in ``(-1/sqrt(H), 1/sqrt(H))``, as ``torch.nn`` initialises its cells."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    # -- the two halves of a step -------------------------------------------------------------
    def project_input(self, x: Tensor) -> Tensor:
        """The input term of every gate, plus the bias: ``x: (..., I) -> (..., G*H)``.

        Works on one step ``(B, I)`` or on a whole sequence ``(B, T, I)`` at once.
        """
        projected = x @ self.weight_ih.T
        if self.num_biases == 1:
            projected = projected + self.bias
        elif self.num_biases == 2:
            projected = projected + self.bias_ih
        return projected

    def project_hidden(self, h: Tensor) -> Tensor:
        """The recurrent term of every gate: ``h: (B, H) -> (B, G*H)`` (with ``bias_hh`` if two biases)."""
        projected = h @ self.weight_hh.T
        if self.num_biases == 2:
            projected = projected + self.bias_hh
        return projected

    def step(self, x_projected: Tensor, state: State) -> tuple[Tensor, State, dict[str, Tensor]]:
        """One step from the projected input ``(B, G*H)``: returns ``(h, new_state, gates)``."""
        raise NotImplementedError

    # -- the public interface -----------------------------------------------------------------
    def init_state(self, batch_size: int, *, like: Tensor | None = None) -> State:
        """The zero state for a batch, on the device and dtype of ``like`` (or of the weights)."""
        reference = self.weight_ih if like is None else like
        zeros = reference.new_zeros(batch_size, self.hidden_size)
        return (zeros, zeros.clone()) if self.has_cell_state else zeros

    def forward(self, x: Tensor, state: State | None = None, return_gates: bool = False):
        """One time step. ``x: (B, I)``; ``state``: ``h`` or ``(h, c)``, each ``(B, H)``; zeros if None.

        Returns ``(h, state)``, or ``(h, state, gates)`` with ``return_gates=True``.
        """
        if x.dim() != 2 or x.shape[1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__} expects one time step x of shape (B, {self.input_size}); "
                f"got {tuple(x.shape)}. For a whole sequence (B, T, I) use course_lib.cells.unroll."
            )
        if state is None:
            state = self.init_state(x.shape[0], like=x)
        h, state, gates = self.step(self.project_input(x), state)
        return (h, state, gates) if return_gates else (h, state)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, num_biases={self.num_biases}"


class ElmanCell(RecurrentCell):
    r"""The Elman (vanilla) RNN cell.

    .. math::
        h_t = \phi(W_{xh} x_t + W_{hh} h_{t-1} + b), \qquad \phi = \tanh \text{ or } \mathrm{ReLU}

    Args:
        input_size: I. hidden_size: H. num_biases: 0, 1 (default) or 2 (as ``torch.nn.RNNCell``).
        nonlinearity: ``"tanh"`` (default) or ``"relu"``.

    Shapes: ``x: (B, I)``, state ``h: (B, H)``. Gates returned: ``{"h": h_t}``.
    """

    num_gates = 1
    gate_names = ("h",)

    def __init__(self, input_size: int, hidden_size: int, num_biases: int = 1, nonlinearity: str = "tanh"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu'; got {nonlinearity!r}.")
        super().__init__(input_size, hidden_size, num_biases)
        self.nonlinearity = nonlinearity

    def step(self, x_projected, h):
        pre_activation = x_projected + self.project_hidden(h)
        h = torch.tanh(pre_activation) if self.nonlinearity == "tanh" else torch.relu(pre_activation)
        return h, h, {"h": h}


class LSTMCell(RecurrentCell):
    r"""The LSTM cell (with a forget gate), gate order i, f, g, o as in ``torch.nn.LSTMCell``.

    .. math::
        \begin{aligned}
        i_t &= \sigma(W_{xi} x_t + W_{hi} h_{t-1} + b_i) \\
        f_t &= \sigma(W_{xf} x_t + W_{hf} h_{t-1} + b_f) \\
        g_t &= \tanh(W_{xg} x_t + W_{hg} h_{t-1} + b_g) \\
        o_t &= \sigma(W_{xo} x_t + W_{ho} h_{t-1} + b_o) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        h_t &= o_t \odot \tanh(c_t)
        \end{aligned}

    Parameters: :math:`4(IH + HH + H)` with one bias per gate; ``torch.nn.LSTMCell`` has two, :math:`+4H`.

    Shapes: ``x: (B, I)``, state ``(h, c)`` each ``(B, H)``.
    Gates returned: ``input``, ``forget``, ``candidate``, ``output``, ``cell`` (each ``(B, H)``).
    """

    num_gates = 4
    gate_names = ("input", "forget", "candidate", "output", "cell")
    has_cell_state = True

    def step(self, x_projected, state):
        h, c = state
        i, f, g, o = (x_projected + self.project_hidden(h)).chunk(4, dim=-1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        h = o * torch.tanh(c)
        return h, (h, c), {"input": i, "forget": f, "candidate": g, "output": o, "cell": c}


class GRUCell(RecurrentCell):
    r"""The gated recurrent unit, gate order r, z, g as in ``torch.nn.GRUCell`` (r, z, n).

    With ``reset_after=False`` (default; the textbook form of Cho et al. 2014) the reset gate
    scales the previous state *before* the recurrent matrix:

    .. math::
        \begin{aligned}
        r_t &= \sigma(W_{xr} x_t + W_{hr} h_{t-1} + b_r) \\
        z_t &= \sigma(W_{xz} x_t + W_{hz} h_{t-1} + b_z) \\
        g_t &= \tanh(W_{xg} x_t + W_{hg} (r_t \odot h_{t-1}) + b_g) \\
        h_t &= (1 - z_t) \odot g_t + z_t \odot h_{t-1}
        \end{aligned}

    With ``reset_after=True`` (PyTorch's form, used by cuDNN) it scales the product instead:
    :math:`g_t = \tanh(W_{xg} x_t + b_{xg} + r_t \odot (W_{hg} h_{t-1} + b_{hg}))`. With one bias
    per gate, :math:`b_g` sits outside the reset: :math:`\tanh(W_{xg} x_t + b_g + r_t \odot W_{hg} h_{t-1})`.

    :math:`z_t` near 1 keeps the old state, as in ``torch.nn.GRUCell``.
    Parameters: :math:`3(IH + HH + H)` with one bias per gate.

    Shapes: ``x: (B, I)``, state ``h: (B, H)``. Gates returned: ``reset``, ``update``, ``candidate``.
    """

    num_gates = 3
    gate_names = ("reset", "update", "candidate")

    def __init__(self, input_size: int, hidden_size: int, num_biases: int = 1, reset_after: bool = False):
        super().__init__(input_size, hidden_size, num_biases)
        self.reset_after = reset_after

    def step(self, x_projected, h):
        H = self.hidden_size
        x_r, x_z, x_g = x_projected.chunk(3, dim=-1)
        if self.reset_after:
            h_r, h_z, h_g = self.project_hidden(h).chunk(3, dim=-1)
            r = torch.sigmoid(x_r + h_r)
            z = torch.sigmoid(x_z + h_z)
            g = torch.tanh(x_g + r * h_g)
        else:
            # r must be known before the candidate's recurrent term, so that term is computed apart.
            h_rz = h @ self.weight_hh[: 2 * H].T
            if self.num_biases == 2:
                h_rz = h_rz + self.bias_hh[: 2 * H]
            h_r, h_z = h_rz.chunk(2, dim=-1)
            r = torch.sigmoid(x_r + h_r)
            z = torch.sigmoid(x_z + h_z)
            h_g = (r * h) @ self.weight_hh[2 * H :].T
            if self.num_biases == 2:
                h_g = h_g + self.bias_hh[2 * H :]
            g = torch.tanh(x_g + h_g)
        h = (1 - z) * g + z * h
        return h, h, {"reset": r, "update": z, "candidate": g}

    def extra_repr(self) -> str:
        return super().extra_repr() + f", reset_after={self.reset_after}"


class PeepholeLSTMCell(RecurrentCell):
    r"""An LSTM whose gates also look at the cell state ("peephole connections").

    The input and forget gates read the previous cell state, the output gate the new one:

    .. math::
        \begin{aligned}
        i_t &= \sigma(W_{xi} x_t + W_{hi} h_{t-1} + P_i c_{t-1} + b_i) \\
        f_t &= \sigma(W_{xf} x_t + W_{hf} h_{t-1} + P_f c_{t-1} + b_f) \\
        g_t &= \tanh(W_{xg} x_t + W_{hg} h_{t-1} + b_g) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        o_t &= \sigma(W_{xo} x_t + W_{ho} h_{t-1} + P_o c_t + b_o) \\
        h_t &= o_t \odot \tanh(c_t)
        \end{aligned}

    ``peephole="full"`` (default): :math:`P_i, P_f, P_o` are full ``(H, H)`` matrices, stored as
    ``weight_ch: (3H, H)`` (rows i, f, o), adding :math:`3H^2` parameters -- 121,600 in all for
    I=128, H=100. ``peephole="diagonal"`` (Greff et al. 2015): :math:`P = \mathrm{diag}(p)`, stored as
    ``weight_ch: (3H,)``, adding :math:`3H`.

    Shapes: ``x: (B, I)``, state ``(h, c)`` each ``(B, H)``.
    Gates returned: ``input``, ``forget``, ``candidate``, ``output``, ``cell``.
    """

    num_gates = 4
    gate_names = LSTMCell.gate_names
    has_cell_state = True

    def __init__(self, input_size: int, hidden_size: int, num_biases: int = 1, peephole: str = "full"):
        if peephole not in ("full", "diagonal"):
            raise ValueError(f"peephole must be 'full' (matrices) or 'diagonal' (vectors); got {peephole!r}.")
        super().__init__(input_size, hidden_size, num_biases)
        self.peephole = peephole
        shape = (3 * hidden_size, hidden_size) if peephole == "full" else (3 * hidden_size,)
        self.weight_ch = nn.Parameter(torch.empty(shape))
        self.reset_parameters()  # again, now that weight_ch exists

    def _peep(self, c: Tensor, gate: int) -> Tensor:
        """The peephole term of gate 0 (i), 1 (f) or 2 (o) for a cell state ``c: (B, H)``."""
        H = self.hidden_size
        block = self.weight_ch[gate * H : (gate + 1) * H]
        return c @ block.T if self.peephole == "full" else c * block

    def step(self, x_projected, state):
        h, c_prev = state
        i, f, g, o = (x_projected + self.project_hidden(h)).chunk(4, dim=-1)
        i = torch.sigmoid(i + self._peep(c_prev, 0))
        f = torch.sigmoid(f + self._peep(c_prev, 1))
        g = torch.tanh(g)
        c = f * c_prev + i * g
        o = torch.sigmoid(o + self._peep(c, 2))
        h = o * torch.tanh(c)
        return h, (h, c), {"input": i, "forget": f, "candidate": g, "output": o, "cell": c}

    def extra_repr(self) -> str:
        return super().extra_repr() + f", peephole={self.peephole!r}"


class CoupledLSTMCell(RecurrentCell):
    r"""The coupled input-forget gate LSTM (CIFG, Greff et al. 2015): the cell forgets what it writes.

    .. math::
        \begin{aligned}
        f_t &= \sigma(W_{xf} x_t + W_{hf} h_{t-1} + b_f), \qquad i_t = 1 - f_t \\
        g_t &= \tanh(W_{xg} x_t + W_{hg} h_{t-1} + b_g) \\
        o_t &= \sigma(W_{xo} x_t + W_{ho} h_{t-1} + b_o) \\
        c_t &= f_t \odot c_{t-1} + (1 - f_t) \odot g_t \\
        h_t &= o_t \odot \tanh(c_t)
        \end{aligned}

    Three gate blocks (order f, g, o), so :math:`3(IH + HH + H)` parameters, the same as a GRU.

    Shapes: ``x: (B, I)``, state ``(h, c)`` each ``(B, H)``.
    Gates returned: ``input`` (= 1 - forget), ``forget``, ``candidate``, ``output``, ``cell``.
    """

    num_gates = 3
    gate_names = LSTMCell.gate_names
    has_cell_state = True

    def step(self, x_projected, state):
        h, c = state
        f, g, o = (x_projected + self.project_hidden(h)).chunk(3, dim=-1)
        f, g, o = torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        i = 1 - f
        c = f * c + i * g
        h = o * torch.tanh(c)
        return h, (h, c), {"input": i, "forget": f, "candidate": g, "output": o, "cell": c}


# -- running a cell over a sequence ----------------------------------------------------------------


def lengths_to_mask(lengths: Tensor, max_len: int) -> Tensor:
    """``lengths: (B,)`` -> ``mask: (B, T)``, True at the real (non-padded) steps."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def _keep_where(mask: Tensor, new: State, old: State) -> State:
    """Take ``new`` where ``mask: (B, 1)`` is True, else ``old`` (for a tensor or an (h, c) pair)."""
    if isinstance(new, tuple):
        return tuple(torch.where(mask, n, o) for n, o in zip(new, old))
    return torch.where(mask, new, old)


FAST_PATH = True
"""Whether :func:`unroll` takes the fast path by default; set False to run the readable loop everywhere."""


def unroll(
    cell: RecurrentCell,
    x: Tensor,
    lengths: Tensor | None = None,
    state: State | None = None,
    return_gates: bool = False,
    fast: bool | None = None,
):
    """Run ``cell`` over every time step of a batch of (possibly padded) sequences.

    Args:
        cell: any :class:`RecurrentCell`.
        x: ``(B, T, I)`` inputs, batch first.
        lengths: ``(B,)`` real lengths (``1 <= length <= T``); steps at or after a sequence's length
            are padding: they leave its state unchanged and their output is zero. None = all T.
        state: the initial state (``h`` or ``(h, c)``, each ``(B, H)``); zeros if None.
        return_gates: also return each gate's activations over time.
        fast: run the course's cells through :mod:`course_lib.fastpath` (the same equations
            with a hand-written backward, several times fewer operations). None (default) =
            :data:`FAST_PATH`; False = always this function's readable loop. Gates, subclasses
            of the cells and autocast always take the readable loop.

    Returns:
        ``outputs: (B, T, H)`` (the hidden state at every step, zero at padded steps) and the final
        state -- for each sequence, the state after its last real step. With ``return_gates=True``,
        a third value: a dict gate name -> ``(B, T, H)`` (padded steps hold whatever the cell
        computed there; mask them before use).
    """
    if x.dim() != 3 or x.shape[2] != cell.input_size:
        raise ValueError(
            f"unroll expects x of shape (B, T, {cell.input_size}) (batch first); got {tuple(x.shape)}."
        )
    batch_size, num_steps, _ = x.shape
    mask = None
    if lengths is not None:
        lengths = torch.as_tensor(lengths, device=x.device)
        if lengths.shape != (batch_size,):
            raise ValueError(f"lengths must have shape ({batch_size},); got {tuple(lengths.shape)}.")
        if lengths.min() < 1 or lengths.max() > num_steps:
            raise ValueError(f"every length must be in [1, {num_steps}]; got {lengths.tolist()}.")
        mask = lengths_to_mask(lengths, num_steps)

    if (FAST_PATH if fast is None else fast) and not return_gates:
        from course_lib import fastpath  # here: fastpath imports this module

        if fastpath.supports(cell, x):
            return fastpath.unroll(cell, x, lengths, state)

    if state is None:
        state = cell.init_state(batch_size, like=x)
    # (B, T, G*H): one matrix product for all steps, split into T views with ONE backward node
    # (indexing x_projected[:, t] would allocate a zero (B, T, G*H) gradient at every step).
    x_steps = cell.project_input(x).unbind(1)
    outputs, gate_steps = [], []
    for t in range(num_steps):
        h, new_state, gates = cell.step(x_steps[t], state)
        if mask is not None:
            real = mask[:, t, None]  # (B, 1)
            state = _keep_where(real, new_state, state)
            h = h * real
        else:
            state = new_state
        outputs.append(h)
        if return_gates:
            gate_steps.append(gates)

    outputs = torch.stack(outputs, dim=1)  # (B, T, H)
    if not return_gates:
        return outputs, state
    gates = {name: torch.stack([g[name] for g in gate_steps], dim=1) for name in gate_steps[0]}
    return outputs, state, gates


class Recurrent(nn.Module):
    """A stack of ``num_layers`` cells of one kind, each layer reading the outputs of the one below.

    ``Recurrent(LSTMCell, input_size=128, hidden_size=100, num_layers=2, dropout=0.5)``; extra keyword
    arguments go to every cell (``num_biases``, ``reset_after``, ``peephole``...). Dropout is applied
    to the outputs of every layer but the last, as in ``torch.nn.LSTM``.

    ``forward(x: (B, T, I), lengths=None, state=None)`` returns ``outputs: (B, T, H)`` of the top
    layer and the list of final states, one per layer (the format ``state`` takes back in).
    """

    def __init__(self, cell_type: type[RecurrentCell], input_size: int, hidden_size: int,
                 num_layers: int = 1, dropout: float = 0.0, **cell_kwargs):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1; got {num_layers}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout is a probability in [0, 1); got {dropout}.")
        self.layers = nn.ModuleList(
            cell_type(input_size if layer == 0 else hidden_size, hidden_size, **cell_kwargs)
            for layer in range(num_layers)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, lengths: Tensor | None = None, state: list[State] | None = None):
        if state is not None and len(state) != len(self.layers):
            raise ValueError(f"state must hold one entry per layer ({len(self.layers)}); got {len(state)}.")
        final_states = []
        for index, cell in enumerate(self.layers):
            if index > 0:
                x = self.dropout(x)
            x, layer_state = unroll(cell, x, lengths, None if state is None else state[index])
            final_states.append(layer_state)
        return x, final_states
