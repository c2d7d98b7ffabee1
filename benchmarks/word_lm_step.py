"""One training step of word_lm's models, eager against a whole step captured as one CUDA graph.

Why: under `full`, word_lm trains four models on PTB (the paper's small model without dropout, its
medium model with dropout, each with an LSTM and a GRU): about 160,000 SGD steps of small cuDNN
kernels. Each step is forward, loss, backward, gradient clipping and the SGD update, a few hundred
launches that Python issues one by one. This script times that step as the notebook runs it
(eager) and as one CUDA graph replayed per step (inputs and state copied into static buffers, the
learning rate a tensor: :mod:`course_lib.tbptt_graph`, which checks each graph against eager steps
before it trains). The model is the notebook's own (its given cell, read from solutions/word_lm).

    PYTHONPATH=. python benchmarks/word_lm_step.py [--steps 200] [--json out.json]

On a CPU it times the eager step only (CUDA graphs need a GPU).
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import math
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn

from notebook_cells import grade_id, run_notebook_cells

from course_lib import tbptt_graph

VOCAB = 10_000
BATCH = 20
CLIP = 5.0
#: (name, cell, hidden, steps per window, dropout): the notebook's full-profile recipes
RECIPES = [("small LSTM", "lstm", 200, 20, 0.0), ("medium LSTM + dropout", "lstm", 650, 35, 0.5),
           ("small GRU", "gru", 200, 20, 0.0), ("medium GRU + dropout", "gru", 650, 35, 0.5)]


@functools.cache
def notebook_word_lm() -> type[nn.Module]:
    """The WordLM class of word_lm's given-model cell, executed from the solution notebook."""
    namespace = run_notebook_cells("word_lm", lambda cell: grade_id(cell) == "given_model",
                                   {"nn": nn, "torch": torch, "VOCAB_SIZE": VOCAB})
    return namespace["WordLM"]


def batches(steps: int, num_steps: int, device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(VOCAB, (steps, BATCH, num_steps + 1), generator=generator).to(device)
    return [(window[:, :-1], window[:, 1:]) for window in ids]


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
    state = [None]

    def eager(x, y):
        _, state[0] = tbptt_graph.eager_step(model, x, y, state[0], 1.0, CLIP)

    time_steps(eager, windows[:20])  # warm-up
    row["eager_ms"] = statistics.median(time_steps(eager, windows) for _ in range(repeat))
    if device.type != "cuda":
        return row
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graphed = tbptt_graph.capture(for_graph, windows, CLIP)  # checked against eager steps first
    if graphed is None:
        row["graph_error"] = "; ".join(str(w.message) for w in caught)[:500]
        return row
    graphed.lr.fill_(1.0)
    time_steps(graphed.step, windows[:20])
    row["graph_ms"] = statistics.median(time_steps(graphed.step, windows) for _ in range(repeat))
    row["graph_losses_finite"] = all(math.isfinite(float(graphed.step(x, y))) for x, y in windows[:50])
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
        if "graph_error" in row:
            extra += f"  graph failed: {row['graph_error'][:200]}"
        print(f"{row['model']:24s} eager {row['eager_ms']:6.2f} ms/step{extra}", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"device": name, "torch": torch.__version__, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
