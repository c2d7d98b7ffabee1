"""One training step of word_lm's models, eager against a whole step captured as one CUDA graph.

Why: under `full`, word_lm trains four models on PTB (the paper's small model without dropout, its
medium model with dropout, each with an LSTM and a GRU): about 160,000 SGD steps of small cuDNN
kernels. Each step is forward, loss, backward, gradient clipping and the SGD update, a few hundred
launches that Python issues one by one. This script times that step as the notebook runs it
(eager) and as one CUDA graph replayed per step (inputs and state copied into static buffers, the
learning rate a tensor), and checks on the first steps without dropout that both give the same
losses. The model is the notebook's own (its given cell, read from solutions/word_lm).

    PYTHONPATH=. python benchmarks/word_lm_step.py [--steps 200] [--json out.json]

On a CPU it times the eager step only (CUDA graphs need a GPU).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import io
import json
import math
import statistics
import sys
import time
from pathlib import Path

import nbformat
import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[1]
VOCAB = 10_000
BATCH = 20
CLIP = 5.0
#: (name, cell, hidden, steps per window, dropout): the notebook's full-profile recipes
RECIPES = [("small LSTM", "lstm", 200, 20, 0.0), ("medium LSTM + dropout", "lstm", 650, 35, 0.5),
           ("small GRU", "gru", 200, 20, 0.0), ("medium GRU + dropout", "gru", 650, 35, 0.5)]


@functools.cache
def notebook_word_lm() -> type[nn.Module]:
    """The WordLM class of word_lm's given-model cell, executed from the solution notebook."""
    notebook = nbformat.read(REPO / "solutions" / "word_lm" / "word_lm.ipynb", as_version=4)
    source = next(c.source for c in notebook.cells
                  if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "given_model")
    namespace = {"nn": nn, "torch": torch, "VOCAB_SIZE": VOCAB}
    with contextlib.redirect_stdout(io.StringIO()):  # the cell prints the small model's size
        exec(compile(source, "word_lm given_model", "exec"), namespace)  # noqa: S102 (our own notebook)
    return namespace["WordLM"]


def batches(steps: int, num_steps: int, device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(VOCAB, (steps, BATCH, num_steps + 1), generator=generator).to(device)
    return [(window[:, :-1], window[:, 1:]) for window in ids]


def detach(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def eager_step(model, x, y, state, lr):
    """The notebook's train_epoch body: summed-over-T loss, clip at 5, SGD."""
    logits, state = model(x, detach(state) if state is not None else None)
    nll = F.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
    model.zero_grad(set_to_none=True)
    (nll * y.shape[1]).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(p.grad, alpha=-lr)
    return nll.detach(), state


class GraphedStep:
    """forward + backward + clip + SGD captured once; each call copies x, y in and replays."""

    def __init__(self, model, x, y, state, lr: float):
        self.model, self.params = model, list(model.parameters())
        self.x, self.y = x.clone(), y.clone()
        self.state = tuple(s.clone() for s in state) if isinstance(state, tuple) else state.clone()
        self.lr = torch.tensor(lr, device=x.device)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up outside the capture: cuDNN picks its algorithms here
            for _ in range(3):
                self._step()
        torch.cuda.current_stream().wait_stream(side)
        model.zero_grad(set_to_none=True)  # the captured backward allocates the grads in the graph's pool
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.nll = self._step()

    def _step(self):
        logits, new_state = self.model(self.x, self.state)
        nll = F.cross_entropy(logits.reshape(-1, VOCAB), self.y.reshape(-1))
        (nll * self.y.shape[1]).backward()
        grads = [p.grad for p in self.params]
        norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
        scale = (CLIP / (norm + 1e-6)).clamp(max=1.0) * self.lr
        with torch.no_grad():
            torch._foreach_sub_(self.params, torch._foreach_mul(grads, scale))
            for static, new in zip(self.state if isinstance(self.state, tuple) else (self.state,),
                                   new_state if isinstance(new_state, tuple) else (new_state,)):
                static.copy_(new)  # the next window starts from this one's final state
        return nll.detach()

    def __call__(self, x, y):
        self.x.copy_(x)
        self.y.copy_(y)
        self.graph.replay()
        return self.nll.clone()


def zero_state(cell: str, hidden: int, device):
    h = torch.zeros(2, BATCH, hidden, device=device)
    return (h, h.clone()) if cell == "lstm" else h


def time_steps(run, windows) -> float:
    """Milliseconds per step over the windows (one sync at the end, as a training epoch)."""
    synchronize = torch.cuda.synchronize if windows[0][0].is_cuda else (lambda: None)
    synchronize()
    started = time.perf_counter()
    for x, y in windows:
        run(x, y)
    synchronize()
    return 1000 * (time.perf_counter() - started) / len(windows)


def measure(recipe, steps: int, device, repeat: int) -> dict:
    name, cell, hidden, num_steps, dropout = recipe
    WordLM = notebook_word_lm()
    torch.manual_seed(0)
    model = WordLM(VOCAB, hidden_size=hidden, cell=cell, dropout=dropout).to(device).train()
    for_graph = copy.deepcopy(model)  # parameters no eager backward has touched (capture needs that)
    windows = batches(steps, num_steps, device)
    row = {"model": name, "hidden": hidden, "num_steps": num_steps, "dropout": dropout}
    state = [zero_state(cell, hidden, device)]

    def eager(x, y):
        _, state[0] = eager_step(model, x, y, state[0], 1.0)

    time_steps(eager, windows[:20])  # warm-up
    row["eager_ms"] = statistics.median(time_steps(eager, windows) for _ in range(repeat))
    if device.type != "cuda":
        return row
    try:
        if dropout == 0.0:  # same losses from the same start, eager and graphed
            torch.manual_seed(1)
            a = WordLM(VOCAB, hidden_size=hidden, cell=cell).to(device)
            b = copy.deepcopy(a)
            start = copy.deepcopy(a.state_dict())
            s, eager_losses = zero_state(cell, hidden, device), []
            for x, y in windows[:6]:
                nll, s = eager_step(a, x, y, s, 1.0)
                eager_losses.append(float(nll))
            graphed = GraphedStep(b, *windows[0], zero_state(cell, hidden, device), 1.0)
            b.load_state_dict(start)  # in place: the capture's warm-up trained b a few steps
            for static in graphed.state if isinstance(graphed.state, tuple) else (graphed.state,):
                static.zero_()
            graph_losses = [float(graphed(x, y)) for x, y in windows[:6]]
            row["largest_loss_difference"] = max(abs(p - q) for p, q in zip(eager_losses, graph_losses))
        graphed = GraphedStep(for_graph, *windows[0], zero_state(cell, hidden, device), 1.0)
        time_steps(graphed, windows[:20])
        row["graph_ms"] = statistics.median(time_steps(graphed, windows) for _ in range(repeat))
        losses = [float(graphed(x, y)) for x, y in windows[:50]]
        row["graph_losses_finite"] = all(math.isfinite(v) for v in losses)
    except Exception as error:  # noqa: BLE001 (a benchmark reports what failed and goes on)
        row["graph_error"] = f"{type(error).__name__}: {error}"[:500]
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="windows per timing (default 200)")
    parser.add_argument("--repeat", type=int, default=3, help="timings per model; the median is reported")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--recipe", type=int, action="append", help="only these recipes (0-3; one process each is safest)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"word_lm training step on {name}, batch {BATCH}, vocabulary {VOCAB:,}, torch {torch.__version__}")
    rows = []
    for recipe in [RECIPES[i] for i in args.recipe] if args.recipe else RECIPES:
        row = measure(recipe, args.steps, device, args.repeat)
        rows.append(row)
        extra = ""
        if "graph_ms" in row:
            extra = f"  graph {row['graph_ms']:6.2f} ms ({row['eager_ms'] / row['graph_ms']:.1f}x)"
        if "largest_loss_difference" in row:
            extra += f"  loss diff {row['largest_loss_difference']:.1e}"
        if "graph_error" in row:
            extra += f"  graph failed: {row['graph_error'][:200]}"
        print(f"{row['model']:24s} eager {row['eager_ms']:6.2f} ms/step{extra}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"device": name, "torch": torch.__version__, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
