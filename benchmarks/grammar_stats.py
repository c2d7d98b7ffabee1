"""How long are the sentences of each chapter-9 language? Length statistics of 50,000 samples each.

Lengths are counted in the language's own tokens (characters, or words for `english`), without
.start and .end. The 200 column matters because the chapter samples from models up to length 200.

    python benchmarks/grammar_stats.py [--samples 50000] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from course_lib.data.grammars import LANGUAGES, generate

LONG = 200


def length_statistics(lengths: np.ndarray) -> dict[str, float]:
    """Summary of sample lengths. lengths: (N,) integers."""
    return {
        "mean": lengths.mean(),
        "std": lengths.std(),
        "median": np.median(lengths),
        "p95": np.percentile(lengths, 95),
        "max": lengths.max(),
        f">{LONG}": (lengths > LONG).mean(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(f"{args.samples:,} samples per language, seed {args.seed}")
    columns = "".join(f"{column:>8}" for column in ("mean", "std", "median", "p95", "max"))
    print(f"{'language':<14}{columns}{'>' + str(LONG):>10}{'time':>8}")
    for name in LANGUAGES:
        start = time.perf_counter()
        lengths = np.array([len(sample) for sample in generate(name, args.samples, seed=args.seed)])
        seconds = time.perf_counter() - start
        stats = length_statistics(lengths)
        print(f"{name:<14}{stats['mean']:8.2f}{stats['std']:8.2f}{stats['median']:8.0f}{stats['p95']:8.0f}"
              f"{stats['max']:8.0f}{stats[f'>{LONG}']:10.5f}{seconds:7.2f}s")


if __name__ == "__main__":
    main()
