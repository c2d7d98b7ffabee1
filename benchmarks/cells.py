"""Forward + backward of the course's cells unrolled over a batch, against torch.nn, in one process.

Each course cell runs through ``course_lib.cells.unroll`` (its default path; ``--plain`` for the
readable loop) over ``x: (B, T, I)``, and the loss ``outputs.sum()`` is backpropagated; the
references are ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (cuDNN on a GPU) over the same input. All
runs are interleaved round by round, so that a noisy machine slows every entry alike, and each
entry's figure is the median of ``--repeats`` rounds after ``--warmup`` rounds. A ratio is
median(ours) / median(reference); the targets are those of the course's issue 15:

* CPU: Elman, LSTM and both GRUs within 1.2x of their torch.nn module; the coupled and peephole
  LSTMs within 1.5x of ``nn.LSTM`` (they have no torch.nn twin);
* GPU: every cell within 3x of its cuDNN module.

Needs only torch, numpy and course_lib; run from the repository root::

    PYTHONPATH=. python benchmarks/cells.py --device cuda --json cells_gpu.json
    PYTHONPATH=. python benchmarks/cells.py --device cpu --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # course_lib from this checkout

from course_lib import cells  # noqa: E402

# name -> (course cell factory (I, H), reference key, size of the cell's family for the target)
ENTRIES = {
    "Elman": (lambda i, h: cells.ElmanCell(i, h), "nn.RNN", "core"),
    "LSTM": (lambda i, h: cells.LSTMCell(i, h), "nn.LSTM", "core"),
    "GRU (reset_after)": (lambda i, h: cells.GRUCell(i, h, reset_after=True), "nn.GRU", "core"),
    "GRU (textbook)": (lambda i, h: cells.GRUCell(i, h, reset_after=False), "nn.GRU", "core"),
    "coupled LSTM": (lambda i, h: cells.CoupledLSTMCell(i, h), "nn.LSTM", "variant"),
    "peephole LSTM (diagonal)": (lambda i, h: cells.PeepholeLSTMCell(i, h, peephole="diagonal"), "nn.LSTM", "variant"),
    "peephole LSTM (full)": (lambda i, h: cells.PeepholeLSTMCell(i, h, peephole="full"), "nn.LSTM", "variant"),
}
REFERENCES = {"nn.RNN": nn.RNN, "nn.LSTM": nn.LSTM, "nn.GRU": nn.GRU}
TARGETS = {"cpu": {"core": 1.2, "variant": 1.5}, "cuda": {"core": 3.0, "variant": 3.0}}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", "-B", type=int, default=64)
    parser.add_argument("--steps", "-T", type=int, default=100)
    parser.add_argument("--input", "-I", type=int, default=128)
    parser.add_argument("--hidden", "-H", type=int, default=256)
    parser.add_argument("--repeats", "-n", type=int, default=7, help="timed rounds; the median is reported")
    parser.add_argument("--warmup", type=int, default=3,
                        help="untimed rounds first (on CUDA a shape's graphs are captured at its third call)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--plain", action="store_true", help="time the readable loop (unroll(fast=False))")
    parser.add_argument("--no-graphs", action="store_true", help="CUDA: the fast path without CUDA graphs")
    parser.add_argument("--only", nargs="*", default=None, help="entry names to run (default: all)")
    parser.add_argument("--json", type=Path, default=None, help="write every timing and verdict here")
    return parser.parse_args(argv)


class Course(nn.Module):
    """A course cell behind the same call as a torch.nn layer: ``x: (B, T, I) -> outputs (B, T, H)``."""

    def __init__(self, cell, fast):
        super().__init__()
        self.cell, self.fast = cell, fast

    def forward(self, x):
        return cells.unroll(self.cell, x, fast=self.fast)


def make_runner(module, x):
    """One forward + backward of ``module`` on ``x``; gradients are dropped before each run."""
    parameters = list(module.parameters())

    def run():
        for p in parameters:
            p.grad = None
        x.grad = None
        outputs, _ = module(x)
        outputs.sum().backward()

    return run


def timer(device):
    """A function that times one call of ``run`` in seconds (CUDA events on a GPU)."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

        def time_cuda(run):
            torch.cuda.synchronize()
            start.record()
            run()
            end.record()
            torch.cuda.synchronize()  # the events measure GPU time; the wait includes the host's
            return start.elapsed_time(end) / 1000.0

        return time_cuda

    def time_cpu(run):
        begin = time.perf_counter()
        run()
        return time.perf_counter() - begin

    return time_cpu


def device_name(device):
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} torch threads"


def measure(args):
    device = torch.device(args.device)
    if args.no_graphs:
        from course_lib import graphed

        graphed.ENABLED = False
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    B, T, I, H = args.batch, args.steps, args.input, args.hidden
    x = torch.randn(B, T, I, device=device, requires_grad=True)
    names = [n for n in ENTRIES if args.only is None or n in args.only]
    runners = {}
    for key in sorted({ENTRIES[n][1] for n in names}):
        runners[key] = make_runner(REFERENCES[key](I, H, batch_first=True).to(device), x)
    for name in names:
        runners[name] = make_runner(Course(ENTRIES[name][0](I, H), fast=False if args.plain else None).to(device), x)
    time_one = timer(device)
    # Pairs: each course cell right next to its reference, in alternating order, so that a load
    # that comes and goes on a shared machine hits both alike; a ratio is taken within each pair.
    times = {name: [] for name in names}
    reference_times = {name: [] for name in names}
    for round_index in range(args.warmup + args.repeats):
        for name in names:
            pair = [(times, name, runners[name]), (reference_times, name, runners[ENTRIES[name][1]])]
            for store, key, run in (pair if round_index % 2 else pair[::-1]):
                seconds = time_one(run)
                if round_index >= args.warmup:
                    store[key].append(seconds)
    return device, names, times, reference_times


def cuda_graphs_used(device):
    """On CUDA: whether the fast path's graphs were on, how many shapes were captured and failed."""
    if device.type != "cuda":
        return None
    from course_lib import graphed

    return {"enabled": graphed.ENABLED, "captured": len(graphed._graphs), "failed": len(graphed._failed)}


def report(args, device, names, times, reference_times):
    targets = TARGETS[device.type]
    rows = []
    for name in names:
        _, reference, family = ENTRIES[name]
        ours, theirs = times[name], reference_times[name]
        ratio = statistics.median(a / b for a, b in zip(ours, theirs))  # the median of the paired ratios
        rows.append({"cell": name, "reference": reference, "median_s": statistics.median(ours),
                     "reference_median_s": statistics.median(theirs), "ratio": ratio,
                     "ratio_of_medians": statistics.median(ours) / statistics.median(theirs),
                     "target": targets[family], "met": ratio <= targets[family],
                     "times_s": ours, "reference_times_s": theirs})
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    header = (f"fwd+bwd, B={args.batch} T={args.steps} I={args.input} H={args.hidden}, medians of {args.repeats} "
              f"rounds, each cell timed next to its reference (ratio: median of the pairs), {device_name(device)}"
              + (f", load average {load[0]:.2f}" if load else "")
              + (", readable loop (--plain)" if args.plain else "")
              + (", no CUDA graphs" if args.no_graphs else ""))
    print(header)
    if device.type == "cuda":
        print(f"CUDA graphs: {cuda_graphs_used(device)}")
    print(f"{'cell':26s} {'ms':>8s} {'reference':>10s} {'ref ms':>8s} {'ratio':>6s} {'target':>7s}  met")
    for row in rows:
        print(f"{row['cell']:26s} {row['median_s'] * 1e3:8.2f} {row['reference']:>10s} "
              f"{row['reference_median_s'] * 1e3:8.2f} {row['ratio']:6.2f} {row['target']:6.1f}x  "
              f"{'yes' if row['met'] else 'NO'}")
    return {
        "device": device_name(device), "device_type": device.type,
        "threads": torch.get_num_threads() if device.type == "cpu" else None,
        "torch": torch.__version__, "load_average": list(load) if load else None,
        "sizes": {"B": args.batch, "T": args.steps, "I": args.input, "H": args.hidden},
        "repeats": args.repeats, "warmup": args.warmup, "path": "plain" if args.plain else ("no graphs" if args.no_graphs else "default"),
        "cells": rows, "all_met": all(row["met"] for row in rows),
        "cuda_graphs": cuda_graphs_used(device),
        "numpy": np.__version__,
    }


def main(argv=None):
    args = parse_args(argv)
    device, names, times, reference_times = measure(args)
    result = report(args, device, names, times, reference_times)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
