"""Does the full-peephole LSTM learn IMDB over 400 tokens from its initial peepholes? Two inits compared.

Why: under `full` (reviews cut at 400 tokens) sentiment's full-peephole LSTM ended at 0.806 test
accuracy on an H200, where the plain LSTM cell of the same chapter reached 0.873 and the target is
0.85; under `cpu` (100 tokens) it is as good as the others. The peepholes add P c to the gates'
pre-activations, with P a full (H, H) matrix drawn like the other weights from U(-1/sqrt(H),
1/sqrt(H)), and the cell state c is not bounded: over hundreds of steps it grows, and a random P
turns it into large pre-activations that saturate the gates before training has a say. This script
trains the notebook's classifier (its CellClassifier and masked max-pool, executed from the solution
notebook) with the `full` profile's variant settings, once with those peepholes and once with
peepholes that start at zero (the cell starts as the plain LSTM and learns its peepholes), and
prints the gates' saturation at the start and the validation accuracy after every epoch.

    PYTHONPATH=. python benchmarks/peephole_init.py [--epochs 2] [--json out.json]

On one CPU thread (2 epochs, bucketed batches) both inits reached about 0.87 validation accuracy
and neither saturated its gates at the start (benchmarks/results/peephole_init_cpu.json): the
miss did not reproduce there, so the initial peepholes stay as they are. Then exactly the `full`
run's training, plainly shuffled batches for 4 epochs (``--pool 1 --epochs 4 --inits uniform``),
on one CPU thread, seeds 0 to 3, and seeds 0 and 1 again with ``--masked`` (padded batches run as
a GPU runs them): best validation accuracy 0.882 to 0.895 in all six runs
(benchmarks/results/peephole_pool1_cpu.json). Neither the settings nor the masking are the cause;
on a GPU, ``--no-graphs`` compares the CUDA graphs with the eager fast path
(``PEEPHOLE=1 bash benchmarks/gpu_full.sh``). ``--clip`` changes the gradient clipping (the
notebook's: 5), and every row records the gradient norms before clipping.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from notebook_cells import grade_id, run_notebook_cells

from course_lib import cells, config, fastpath, graphed
from course_lib.data import PAD_ID, BucketBatchSampler, ReviewDataset, collate_padded, load_imdb_datasets
from course_lib.metrics import Accuracy
from course_lib.train import fit

#: the full profile's variant settings (solutions/sentiment, "VARIANT_*")
EMBEDDING, HIDDEN, MAX_LEN, BATCH, LR = 128, 100, 400, 128, 2e-3


def notebook_classifier() -> type[nn.Module]:
    """CellClassifier, with the masked_max_pool it calls, executed from sentiment's solution notebook."""
    namespace = run_notebook_cells(
        "sentiment", lambda cell: grade_id(cell) == "masked_max_pool" or cell.source.startswith("class CellClassifier"),
        {"torch": torch, "nn": nn, "cells": cells, "PAD_ID": PAD_ID},
        source=lambda cell: cell.source.split("\nVARIANTS = ")[0])  # the class only, not the runs after it
    if "CellClassifier" not in namespace:
        raise RuntimeError("solutions/sentiment/sentiment.ipynb has no CellClassifier cell any more.")
    return namespace["CellClassifier"]


@torch.no_grad()
def saturation(model: nn.Module, batch) -> dict[str, float]:
    """Fraction of (step, unit) gate values below 0.05 or above 0.95, and the largest |c|, on one batch."""
    device = next(model.parameters()).device  # after fit, the model's; the batch stays on the CPU
    ids, lengths, mask = (tensor.to(device) for tensor in batch[:3])
    x = model.embedding(ids)
    state, rows = model.cell.init_state(len(ids), like=x), {"input": [], "forget": [], "output": []}
    largest = 0.0
    for t in range(int(lengths.max())):
        _, state, gates = model.cell.step(model.cell.project_input(x[:, t]), state)
        real = mask[:, t]
        for name in rows:
            rows[name].append(((gates[name] < 0.05) | (gates[name] > 0.95))[real].float().mean())
        largest = max(largest, float(gates["cell"][real].abs().max()))
    return {**{name: float(torch.stack(values).mean()) for name, values in rows.items()}, "largest |c|": largest}


def norm_spread(norms: list[float], clip: float) -> dict[str, float]:
    """Median, 99th percentile and largest gradient norm, and how many steps the clipping scaled down."""
    ordered = sorted(norms)
    return {"median": ordered[len(ordered) // 2], "99th percentile": ordered[int(0.99 * (len(ordered) - 1))],
            "largest": ordered[-1], "steps clipped": sum(norm > clip for norm in norms), "steps": len(norms)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--inits", nargs="+", default=["uniform", "zero"], choices=["uniform", "zero"])
    parser.add_argument("--pool", type=int, default=50,
                        help="batches per length bucket: 50 as under cpu, 1 for plain shuffling as under full")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights and the batch order")
    parser.add_argument("--no-graphs", action="store_true", help="on a GPU, run the eager fast path, no CUDA graphs")
    parser.add_argument("--masked", action="store_true",
                        help="run padded training batches masked (every row every step), as a GPU does, on any device")
    parser.add_argument("--clip", type=float, default=5.0, help="gradient norm clipping (the notebook's: 5)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    threads = config.configure_threads()
    graphed.ENABLED = not args.no_graphs
    if args.masked:  # the GPU's way with padding; on a CPU the default packs the rows by length instead
        fastpath.MASKED = True
    CellClassifier = notebook_classifier()
    data = load_imdb_datasets(max_size=20_000, max_len=MAX_LEN, valid_size=5_000, seed=0, progress=False)
    # --pool 50: batches of similar length, as the notebook's cpu profile; the loop over time skips most
    # padding on a CPU. --pool 1: plainly shuffled batches, as the full profile on a GPU.
    train_loader = DataLoader(data.train, collate_fn=collate_padded,
                              batch_sampler=BucketBatchSampler(data.train.lengths(), BATCH, pool_batches=args.pool))
    order = sorted(range(len(data.valid)), key=lambda i: len(data.valid.sequences[i]))
    valid = ReviewDataset([data.valid.sequences[i] for i in order], data.valid.labels[order])
    valid_loader = DataLoader(valid, batch_size=256, collate_fn=collate_padded)
    long_reviews = [i for i, sequence in enumerate(data.train.sequences) if len(sequence) == MAX_LEN][:64]
    long_batch = collate_padded([data.train[i] for i in long_reviews])  # where the cell state grows most
    print(f"{config.device()}, {threads} thread(s); {len(data.train):,} reviews, at most {MAX_LEN} tokens, "
          f"batches of {BATCH}, Adam {LR:g}", flush=True)
    rows = []
    for init in args.inits:
        config.seed_everything(args.seed)
        model = CellClassifier(len(data.vocab), EMBEDDING, HIDDEN, cells.PeepholeLSTMCell, peephole="full")
        if init == "zero":
            nn.init.zeros_(model.cell.weight_ch)
        before = saturation(model, long_batch)
        started = time.perf_counter()

        def say_epoch(epoch, model, row):  # as it goes: a run stopped by a time limit still tells
            print(f"{init}, epoch {epoch}: validation accuracy {row['valid_accuracy']:.4f}, train loss "
                  f"{row['train_loss']:.4f}, {(time.perf_counter() - started) / 60:.1f} min", flush=True)

        history = fit(model, train_loader, optimizer=torch.optim.Adam(model.parameters(), lr=LR),
                      loss_fn=F.cross_entropy, epochs=args.epochs, valid_batches=valid_loader,
                      metrics=[Accuracy()], clip_norm=args.clip, progress=False, on_epoch_end=say_epoch)
        row = {"peephole init": init, "pool": args.pool, "seed": args.seed, "device": str(config.device()),
               "cuda graphs": graphed.ENABLED and config.device().type == "cuda",
               "masked": args.masked or (graphed.ENABLED and config.device().type == "cuda"), "saturated at the start (400-token reviews)": before,
               "valid accuracy per epoch": history.epochs["valid_accuracy"],
               "train loss per epoch": history.epochs["train_loss"], "clip": args.clip,
               "gradient norm before clipping": norm_spread(history.steps["grad_norm"], args.clip),
               "saturated after training": saturation(model, long_batch),
               "minutes": (time.perf_counter() - started) / 60}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"threads": threads, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
