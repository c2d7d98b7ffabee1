"""How much does the character-level toy English move from seed to seed? grammars' model, over seeds.

Why: the grammars chapter trains one LSTM per language for 2 epochs. Its character-level English
(`english_chars`) ended the `cpu` profile's runs anywhere from 0.66 to 0.90 valid synthesized
sentences at T = 0.25 and 0.5, so the page may only state that figure with its spread. This script
trains that model with several training seeds (the seed of the initial weights and of the batch
order; the corpus is the notebook's) and measures what the notebook measures. Seed 0 is the
notebook's own run. The model, the loss, the training step, the training loop and the sampling are
executed from the solution notebook's cells, so they are the notebook's, not a copy.

    PYTHONPATH=. COURSE_PROFILE=cpu python benchmarks/grammar_seeds.py [--seeds 0 1 2 3 4] [--json out.json]
    python benchmarks/grammar_seeds.py --merge a.json b.json [--json all.json]   # runs of other seeds, together

Seeds 0 to 7 on one CPU thread (three processes, merged; benchmarks/results/grammar_seeds_cpu.txt):
held-out loss 0.473 to 0.484, valid synthesized sentences 0.61 to 0.99 at T = 0.25 (median 0.95) and
0.68 to 0.98 at T = 0.5 (median 0.90); the grammars page states that range.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from notebook_cells import grade_id, run_notebook_cells

from course_lib import config

LANGUAGE = "english_chars"
TEMPERATURES = (0.0, 0.25, 0.5, 0.75, 1.0)
#: the notebook's cells this script needs, in the notebook's order
CELLS = ("given_setup", "given_model", "lm_loss", "train_step", "given_training", "valid_fraction", "given_sampling")


def notebook_namespace() -> dict:
    """The grammars solution notebook's given and solution cells, executed in one namespace."""
    namespace = run_notebook_cells("grammars", lambda cell: grade_id(cell) in CELLS)
    missing = [name for name in ("train_language", "synthesize", "complete", "valid_fraction") if name not in namespace]
    if missing:
        raise RuntimeError(f"solutions/grammars/grammars.ipynb no longer defines {', '.join(missing)}; "
                           "update CELLS in this script.")
    return namespace


def measure(namespace: dict, seed: int) -> dict:
    """Train the notebook's english_chars model with this seed; the notebook's figures for it."""
    model, history, seconds = namespace["train_language"](LANGUAGE, seed=seed)
    held_out = namespace["corpora"][LANGUAGE]["held_out"][: namespace["SAMPLES"]]
    row = {"seed": seed, "held_out_loss": history.last("valid_loss"), "train_seconds": seconds}
    for temperature in TEMPERATURES:
        prompts, continuations = namespace["synthesize"](model, namespace["SAMPLES"], temperature)
        row[f"synthesis T={temperature:g}"] = namespace["valid_fraction"](LANGUAGE, prompts, continuations)
        row[f"completion T={temperature:g}"] = namespace["valid_fraction"](
            LANGUAGE, *namespace["complete"](model, LANGUAGE, held_out, temperature))
    return row


def row_line(row: dict) -> str:
    figures = "  ".join(f"{key} {value:.3f}" for key, value in row.items() if key.startswith("synthesis"))
    return f"seed {row['seed']}: held-out loss {row['held_out_loss']:.4f}  {figures}  ({row['train_seconds']:.0f} s training)"


def summarize(rows: list[dict]) -> dict:
    """min, median and max over the seeds of every figure."""
    summary = {}
    for key in rows[0]:
        if key.startswith(("synthesis", "completion")) or key == "held_out_loss":
            values = [row[key] for row in rows]
            summary[key] = {"min": min(values), "median": statistics.median(values), "max": max(values)}
    print("\nover seeds " + ", ".join(str(row["seed"]) for row in rows) + ":  min / median / max")
    for key, value in summary.items():
        print(f"  {key:18s} {value['min']:.3f} / {value['median']:.3f} / {value['max']:.3f}")
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--json", type=Path, help="also write the rows and the summary here")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                        help="train nothing: the rows of earlier --json files (runs of other seeds) and their summary")
    args = parser.parse_args(argv)
    if args.merge:
        runs = [json.loads(path.read_text()) for path in args.merge]
        run, rows = runs[0]["run"], sorted((row for r in runs for row in r["rows"]), key=lambda row: row["seed"])
        print(f"profile {run['profile']}, {run['threads']} CPU thread(s); merged from {len(runs)} runs")
        for row in rows:
            print(row_line(row))
    else:
        namespace = notebook_namespace()
        threads = config.configure_threads()  # after the setup cell, which sets one thread
        run = {"profile": config.profile(), "threads": threads, "language": LANGUAGE}
        print(f"profile {run['profile']}, {threads} CPU thread(s), {namespace['TRAIN_SENTENCES']:,} sentences, "
              f"{namespace['EPOCHS']} epochs, {namespace['SAMPLES']:,} samples per temperature", flush=True)
        rows = []
        for seed in args.seeds:
            rows.append(measure(namespace, seed))
            print(row_line(rows[-1]), flush=True)
    summary = summarize(rows)
    if args.json:
        args.json.write_text(json.dumps({"run": run, "rows": rows, "summary": summary}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
