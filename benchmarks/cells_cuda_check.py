"""On a GPU: the fast path with and without CUDA graphs against the readable loop, in float64.

The CPU test suite cannot run CUDA graphs; this script is their check. For every course cell:
outputs, final states and the gradients of x, the initial state and every parameter, through
(1) ``unroll(fast=False)``, (2) the eager fast path (padded batches packed) and (3) the CUDA
graphs (padded batches masked: every row runs every step), unpadded and padded;
the graphs again on new inputs (a replay must read them) and twice before one backward (the
second call must not spoil the first one's saved buffers). Prints the largest differences and
exits 1 when any exceeds 1e-10.

    PYTHONPATH=. python benchmarks/cells_cuda_check.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from course_lib import cells, graphed  # noqa: E402

TOLERANCE = 1e-10
CELLS = {
    "elman": lambda: cells.ElmanCell(5, 6),
    "elman_relu_2b": lambda: cells.ElmanCell(5, 6, num_biases=2, nonlinearity="relu"),
    "lstm": lambda: cells.LSTMCell(5, 6),
    "lstm_2b": lambda: cells.LSTMCell(5, 6, num_biases=2),
    "gru_textbook": lambda: cells.GRUCell(5, 6),
    "gru_reset_after_2b": lambda: cells.GRUCell(5, 6, num_biases=2, reset_after=True),
    "gru_reset_after_0b": lambda: cells.GRUCell(5, 6, num_biases=0, reset_after=True),
    "coupled": lambda: cells.CoupledLSTMCell(5, 6),
    "peephole_full": lambda: cells.PeepholeLSTMCell(5, 6),
    "peephole_diagonal_2b": lambda: cells.PeepholeLSTMCell(5, 6, num_biases=2, peephole="diagonal"),
}


def run(cell, x, lengths, state, mode):
    """Values and gradients of a loss over the outputs and the final state, for one path."""
    graphed.ENABLED = mode == "graphs"
    outputs, final = cells.unroll(cell, x, lengths, state, fast=mode != "plain")
    final = final if isinstance(final, tuple) else (final,)
    probe = torch.linspace(-1, 1, outputs.numel(), dtype=outputs.dtype, device=outputs.device).view_as(outputs)
    loss = (outputs * probe).sum() + sum((k + 1) * (p ** 2).sum() for k, p in enumerate(final))
    state = state if isinstance(state, tuple) else (state,)
    grads = torch.autograd.grad(loss, [x, *state, *cell.parameters()])
    return [outputs, *final, *grads]


def worst(a, b):
    return max((p - q).abs().max().item() for p, q in zip(a, b))


def main():
    device = torch.device("cuda")
    graphed.CAPTURE_AT = 1  # capture at once: every "graphs" run below must replay a graph
    print(torch.__version__, torch.cuda.get_device_name(device))
    failures = 0
    for name, make in CELLS.items():
        torch.manual_seed(0)
        cell = make().double().to(device)
        for lengths in (None, torch.tensor([7, 3, 5, 7], device=device)):
            x = torch.randn(4, 7, 5, dtype=torch.float64, device=device, requires_grad=True)
            state = cell.init_state(4, like=x)
            state = (tuple(torch.randn_like(s).requires_grad_() for s in state) if isinstance(state, tuple)
                     else torch.randn_like(state).requires_grad_())
            plain = run(cell, x, lengths, state, "plain")
            eager = run(cell, x, lengths, state, "eager")
            graphs = run(cell, x, lengths, state, "graphs")
            x2 = torch.randn_like(x).requires_grad_()
            replay = worst(run(cell, x2, lengths, state, "graphs"), run(cell, x2, lengths, state, "plain"))
            # Two calls of one shape before one backward.
            graphed.ENABLED = True
            first, _ = cells.unroll(cell, x, lengths, state)
            second, _ = cells.unroll(cell, x2, lengths, state)
            g_first, g_second = torch.autograd.grad((first * 2).sum() + (second ** 2).sum(), [x, x2])
            graphed.ENABLED = False
            p_first, _ = cells.unroll(cell, x, lengths, state, fast=False)
            p_second, _ = cells.unroll(cell, x2, lengths, state, fast=False)
            r_first, r_second = torch.autograd.grad((p_first * 2).sum() + (p_second ** 2).sum(), [x, x2])
            interleaved = worst([first, second, g_first, g_second], [p_first, p_second, r_first, r_second])
            # Two cells of one shape (a stack's layers) before one backward: each its own weights.
            other = make().double().to(device)
            graphed.ENABLED = True
            a, _ = cells.unroll(cell, x, lengths, state)
            b, _ = cells.unroll(other, x, lengths, state)
            grads = torch.autograd.grad(a.sum() + (b ** 2).sum(), [*cell.parameters(), *other.parameters()])
            graphed.ENABLED = False
            pa, _ = cells.unroll(cell, x, lengths, state, fast=False)
            pb, _ = cells.unroll(other, x, lengths, state, fast=False)
            grads_ref = torch.autograd.grad(pa.sum() + (pb ** 2).sum(), [*cell.parameters(), *other.parameters()])
            two_cells = worst([a, b, *grads], [pa, pb, *grads_ref])
            with torch.no_grad():  # inference: the forward graph alone
                graphed.ENABLED = True
                inference = worst([cells.unroll(cell, x2, lengths, state)[0]],
                                  [cells.unroll(cell, x2, lengths, state, fast=False)[0]])
            errors = {"eager": worst(eager, plain), "graphs": worst(graphs, plain), "replay": replay,
                      "two calls": interleaved, "two cells": two_cells, "no grad": inference}
            bad = {k: v for k, v in errors.items() if not v <= TOLERANCE}
            failures += bool(bad)
            label = f"{name} {'padded' if lengths is not None else 'full'}"
            print(f"{label:32s} " + "  ".join(f"{k} {v:.1e}" for k, v in errors.items()) + ("  FAIL" if bad else ""))
    print(f"graphs captured: {len(graphed._graphs)} (at most {graphed.MAX_GRAPHS} kept), failed: {len(graphed._failed)}")
    print("all paths agree" if not failures else f"{failures} cases FAIL")
    return 1 if failures or graphed._failed or not graphed._graphs else 0


if __name__ == "__main__":
    sys.exit(main())
