"""How torch's CPU threads cope with other programs on the cores: 1 vs 2 threads, with CPU hogs.

For 0..``--hogs`` extra busy-looping processes started beside it, times forward + backward of
the course's LSTM (its default path) and of ``nn.GRU`` over ``x: (B, T, I)`` at each thread
count, interleaved round by round, and prints the medians with the load average and what
``course_lib.config.configure_threads`` would choose at that moment. The hogs are this
script's own children and are ended before it exits.

    PYTHONPATH=. python benchmarks/threads.py --hogs 2 --json threads.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from course_lib import cells, config  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hogs", type=int, default=2, help="up to this many extra busy processes")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds after 2 of warm-up")
    parser.add_argument("--size", type=int, nargs=4, default=[64, 100, 128, 256], metavar=("B", "T", "I", "H"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    B, T, I, H = args.size
    torch.manual_seed(0)
    x = torch.randn(B, T, I, requires_grad=True)
    models = {"course LSTM": lambda x, cell=cells.LSTMCell(I, H): cells.unroll(cell, x),
              "nn.GRU": nn.GRU(I, H, batch_first=True)}
    rows = []
    for hogs in range(args.hogs + 1):
        processes = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(hogs)]
        try:
            time.sleep(3)  # let the hogs take their cores
            chosen = config.choose_threads(config.physical_cores(), config.usable_cpus(), os.getloadavg()[0])
            times = {(name, threads): [] for name in models for threads in args.threads}
            for _ in range(args.rounds + 2):
                for name, threads in times:
                    torch.set_num_threads(threads)
                    begin = time.perf_counter()
                    outputs, _ = models[name](x)
                    outputs.sum().backward()
                    times[(name, threads)].append(time.perf_counter() - begin)
            load = os.getloadavg()[0]
            for (name, threads), values in times.items():
                row = {"extra_hogs": hogs, "model": name, "threads": threads, "median_s": statistics.median(values[2:]),
                       "load_average": load, "configure_threads_picks": chosen}
                rows.append(row)
                print(f"hogs {hogs}  load {load:5.2f}  {name:12s} {threads} threads {row['median_s'] * 1e3:8.1f} ms"
                      f"   (configure_threads picks {chosen})", flush=True)
        finally:
            for process in processes:
                process.kill()
                process.wait()
    if args.json is not None:
        args.json.write_text(json.dumps({"size": args.size, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
