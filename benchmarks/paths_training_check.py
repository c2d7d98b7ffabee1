"""Does training take the same course through every path of the cells? Sentiment's model, loss by loss.

Why: on an H200, sentiment's full-peephole LSTM ended at 0.806 test accuracy under `full`; on a CPU
the same training reached 0.88-0.90 validation accuracy over four seeds, with padded batches packed
or masked as a GPU runs them (benchmarks/results/peephole_pool1_cpu.json). cells_cuda_check.py
compares the paths one call at a time, in float64, at small sizes. This script trains sentiment's
classifier (its CellClassifier, executed from the solution notebook) at the real size and in float32:
IMDB reviews cut at 400 tokens, plainly shuffled batches of 128, embedding 128, hidden 100, Adam 2e-3,
gradients clipped at 5 -- from the same initial weights on the same batches, once per path, and
prints the training loss of every path at every step. The paths:

* ``plain``: the readable loop, autograd through every step (the reference);
* ``packed`` and ``masked``: the eager fast path, padded rows skipped (the CPU's way) or run and
  masked (the GPU's way);
* ``graphs`` (CUDA only): the masked fast path replayed from CUDA graphs, as in training on a GPU.

Float32 rounding makes correct paths drift apart slowly (compare the CPU's own paths); a wrong one
departs within a few steps. Exits 1 when a path's loss differs from the reference's by more than
``--tolerance`` within the first ``--early`` steps, or a weight after them by more than
``--weight-tolerance`` of its largest entry (a weight whose gradient went missing shows there first).

    PYTHONPATH=. python benchmarks/paths_training_check.py [--steps 60] [--device cuda] [--cell peephole]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from peephole_init import BATCH, EMBEDDING, HIDDEN, LR, MAX_LEN, notebook_classifier

from course_lib import cells, config, fastpath, graphed
from course_lib.data import BucketBatchSampler, collate_padded, load_imdb_datasets

CELLS = {
    "peephole": (cells.PeepholeLSTMCell, {"peephole": "full"}),
    "lstm": (cells.LSTMCell, {}),
    "gru": (cells.GRUCell, {}),
    "coupled": (cells.CoupledLSTMCell, {}),
}



class Run(NamedTuple):
    """One path's training: the loss and the gradient's norm before clipping at every step, the
    weights after the early steps, and the seconds it took."""

    losses: list[float]
    norms: list[float]
    weights: dict[str, torch.Tensor]
    seconds: float


def use_path(path: str) -> None:
    """Send every unroll down ``path`` (see the module's docstring)."""
    cells.FAST_PATH = path != "plain"
    graphed.ENABLED = path == "graphs"
    fastpath.MASKED = {"packed": False, "masked": True}.get(path)  # None: the device's default


def train(path, make_model, batches, device, early) -> Run:
    """Train a fresh model on ``batches`` through ``path``."""
    use_path(path)
    model = make_model().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    losses, weights, norms = [], {}, []
    started = time.perf_counter()
    for step, (ids, lengths, mask, labels) in enumerate(batches):
        if step == early:
            weights = {name: tensor.detach().clone() for name, tensor in model.named_parameters()}
        loss = F.cross_entropy(model(ids, lengths, mask), labels)
        optimizer.zero_grad()
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)))
        optimizer.step()
        losses.append(loss.item())  # host syncs at every step: fine for a check, not for training
    return Run(losses, norms, weights, time.perf_counter() - started)


def weight_difference(weights: dict, reference: dict) -> tuple[str, float]:
    """The parameter that differs most from the reference's, and by how much (max |difference| / max |reference|)."""
    differences = {name: float((weights[name] - reference[name]).abs().max() / reference[name].abs().max().clamp_min(1e-12))
                   for name in reference}
    name = max(differences, key=differences.get)
    return name, differences[name]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--cell", choices=CELLS, default="peephole")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--early", type=int, default=10, help="steps in which every path must agree")
    parser.add_argument("--tolerance", type=float, default=1e-3, help="largest loss difference allowed early on")
    parser.add_argument("--weight-tolerance", type=float, default=1e-2,
                        help="largest difference of a weight after the early steps, relative to its largest entry")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    if not 0 < args.early < args.steps:
        parser.error(f"--early ({args.early}) must be at least 1 and less than --steps ({args.steps})")
    threads = config.configure_threads()
    device = torch.device(args.device)
    paths = ["plain", "packed", "masked"] + (["graphs"] if device.type == "cuda" else [])
    CellClassifier = notebook_classifier()
    data = load_imdb_datasets(max_size=20_000, max_len=MAX_LEN, valid_size=5_000, seed=0, progress=False)
    config.seed_everything(args.seed)
    sampler = BucketBatchSampler(data.train.lengths(), BATCH, pool_batches=1)  # plain shuffling, as under full
    loader = DataLoader(data.train, collate_fn=collate_padded, batch_sampler=sampler)
    batches = []
    for batch in loader:
        batches.append(tuple(tensor.to(device) for tensor in batch))
        if len(batches) == args.steps:
            break
    cell_type, options = CELLS[args.cell]

    def make_model():
        torch.manual_seed(args.seed)
        return CellClassifier(len(data.vocab), EMBEDDING, HIDDEN, cell_type, **options)

    device_name = str(config.device()) if device.type == "cuda" else "cpu"
    print(f"{device_name}, {threads} thread(s); {args.cell} cell, "
          f"{len(batches)} batches of {tuple(batches[0][0].shape)}, float32", flush=True)
    runs = {path: train(path, make_model, batches, device, args.early) for path in paths}
    reference = runs["plain"].losses
    print("step  " + "  ".join(f"{path:>9s}" for path in paths) + "  (training loss; gradient norm of plain before clipping)")
    for step in list(range(min(args.early, len(reference)))) + list(range(args.early, len(reference), 5)):
        print(f"{step + 1:4d}  " + "  ".join(f"{runs[path].losses[step]:9.5f}" for path in paths)
              + f"  {runs['plain'].norms[step]:9.3f}")
    failed = []
    summary = {}
    for path in paths:
        losses, norms, weights, seconds = runs[path]
        differences = [abs(a - b) for a, b in zip(losses, reference)]
        early = max(differences[: args.early])
        weight, weight_early = weight_difference(weights, runs["plain"].weights)
        summary[path] = {"losses": losses, "seconds": seconds, "largest early difference": early,
                         "largest difference": max(differences), "weight differing most after the early steps": weight,
                         "its relative difference": weight_early,
                         "mean loss, last 10 steps": sum(losses[-10:]) / len(losses[-10:]),
                         "gradient norms before clipping": norms}
        verdict = "" if early <= args.tolerance and weight_early <= args.weight_tolerance else "  DEPARTS"
        failed += [path] if verdict else []
        print(f"{path:7s} largest difference from plain: loss {early:.2e} in the first {args.early} steps, "
              f"{max(differences):.2e} in all; weights after {args.early} steps {weight_early:.2e} ({weight}); "
              f"mean loss of the last 10 steps {summary[path]['mean loss, last 10 steps']:.4f}; {seconds:.1f} s{verdict}")
    if args.json:
        args.json.write_text(json.dumps({"device": device_name,
                                         "threads": threads, "cell": args.cell, "seed": args.seed, "paths": summary},
                                        indent=1) + "\n")
    print("every path follows the readable loop" if not failed else f"departs from the readable loop: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
