"""The cells chapter, instructor half: reference implementations and hidden cases."""

import torch

from course_lib.checks.base import Case
from course_lib.checks.cells import build_checks


def _blocks(parameters, count):
    return (parameters["weight_ih"].chunk(count, dim=0), parameters["weight_hh"].chunk(count, dim=0),
            parameters["bias"].chunk(count, dim=0))


def lstm_reference(parameters, x, state):
    """The LSTM written out, gate blocks i, f, g, o."""
    h, c = state
    (W_i, W_f, W_g, W_o), (U_i, U_f, U_g, U_o), (b_i, b_f, b_g, b_o) = _blocks(parameters, 4)
    i = torch.sigmoid(x @ W_i.T + h @ U_i.T + b_i)
    f = torch.sigmoid(x @ W_f.T + h @ U_f.T + b_f)
    g = torch.tanh(x @ W_g.T + h @ U_g.T + b_g)
    o = torch.sigmoid(x @ W_o.T + h @ U_o.T + b_o)
    c_new = f * c + i * g
    return o * torch.tanh(c_new), c_new


def textbook_gru_reference(parameters, x, h):
    """Cho et al.'s GRU: r multiplies h_{t-1} before the candidate's recurrent matrix."""
    (W_r, W_z, W_g), (U_r, U_z, U_g), (b_r, b_z, b_g) = _blocks(parameters, 3)
    r = torch.sigmoid(x @ W_r.T + h @ U_r.T + b_r)
    z = torch.sigmoid(x @ W_z.T + h @ U_z.T + b_z)
    g = torch.tanh(x @ W_g.T + (r * h) @ U_g.T + b_g)
    return (1 - z) * g + z * h


def peephole_reference(parameters, x, state):
    """The peephole LSTM: i and f read c_{t-1}, o reads c_t."""
    h, c = state
    (W_i, W_f, W_g, W_o), (U_i, U_f, U_g, U_o), (b_i, b_f, b_g, b_o) = _blocks(parameters, 4)
    weight_ch = parameters["weight_ch"]
    P_i, P_f, P_o = weight_ch.chunk(3, dim=0)
    peep = (lambda P, v: v @ P.T) if weight_ch.dim() == 2 else (lambda p, v: v * p)
    i = torch.sigmoid(x @ W_i.T + h @ U_i.T + peep(P_i, c) + b_i)
    f = torch.sigmoid(x @ W_f.T + h @ U_f.T + peep(P_f, c) + b_f)
    g = torch.tanh(x @ W_g.T + h @ U_g.T + b_g)
    c_new = f * c + i * g
    o = torch.sigmoid(x @ W_o.T + h @ U_o.T + peep(P_o, c_new) + b_o)
    return o * torch.tanh(c_new), c_new


def coupled_reference(parameters, x, state):
    """The CIFG LSTM: blocks f, g, o and i = 1 - f."""
    h, c = state
    (W_f, W_g, W_o), (U_f, U_g, U_o), (b_f, b_g, b_o) = _blocks(parameters, 3)
    f = torch.sigmoid(x @ W_f.T + h @ U_f.T + b_f)
    g = torch.tanh(x @ W_g.T + h @ U_g.T + b_g)
    o = torch.sigmoid(x @ W_o.T + h @ U_o.T + b_o)
    c_new = f * c + (1 - f) * g
    return o * torch.tanh(c_new), c_new


CHECKS = build_checks({"cells.lstm_cell": lstm_reference, "cells.gru_textbook": textbook_gru_reference,
                       "cells.peephole": peephole_reference, "cells.coupled": coupled_reference})


def _probe(*args, **kwargs):
    return Case(args, kwargs, context={"part": "probe"})


def _steps(*args, steps=4, **kwargs):
    return Case(args, kwargs, context={"part": "steps", "steps": steps})


HIDDEN = {
    "cells.lstm_cell": [_probe(10, 20, 4, 101), _probe(1, 1, 1, 102), _probe(32, 64, 8, 103),
                        _steps(6, 5, 3, 104, steps=5)],
    "cells.lstm_gradcheck": [Case((2, 3, 3, 105)), Case((4, 2, 1, 106))],
    "cells.gru_reset_after": [Case((10, 20, 4, 201)), Case((1, 1, 2, 202)), Case((32, 64, 8, 203))],
    "cells.gru_textbook": [_steps(6, 9, 5, 211), _steps(1, 2, 1, 212), _steps(16, 8, 3, 213), _probe(12, 10, 4, 214)],
    "cells.peephole": [c for kind in ("full", "diagonal") for c in
                       (_probe(9, 6, 4, 301, peephole=kind), _steps(7, 5, 3, 302, peephole=kind),
                        _steps(2, 1, 2, 303, peephole=kind))],
    "cells.coupled": [_probe(11, 6, 4, 401), _steps(7, 5, 3, 402), _steps(1, 3, 2, 403)],
    "cells.unroll_lstm": [Case(("LSTM", "LSTMCell", 9, 5, 2, 11, 501), context={"with_state": True}),
                          Case(("GRU", "GRUCell", 3, 8, 4, 6, 502), {"reset_after": True}),
                          Case(("RNN", "ElmanCell", 5, 7, 3, 5, 503), context={"with_state": True}),
                          Case(("LSTM", "LSTMCell", 2, 3, 1, 1, 504))],
    "cells.unroll_padding": [Case(("GRUCell", 3, 5, (3, 7, 1, 7, 2), 7, 602), {"reset_after": True}),
                             Case(("ElmanCell", 6, 4, (4, 4), 6, 603)),
                             Case(("PeepholeLSTMCell", 2, 3, (1, 8, 5), 8, 604), {"peephole": "diagonal"}),
                             Case(("LSTMCell", 5, 5, (3, 1, 2), 3, 605))],
}
